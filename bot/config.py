"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_KNOWLEDGE_DIR = Path("knowledge")
DEFAULT_DATA_DIR = Path("data")


@dataclass(frozen=True)
class Settings:
    """Everything configurable; see .env.example for each variable."""

    token: str | None = field(default=None, repr=False)
    base_url: str | None = None
    admin_ids: frozenset[int] = frozenset()
    knowledge_dir: Path = DEFAULT_KNOWLEDGE_DIR
    db_path: Path = DEFAULT_DATA_DIR / "bot.sqlite3"
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    port: int = 8443
    log_retention_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            token=(env.get("TELEGRAM_BOT_TOKEN") or "").strip() or None,
            base_url=(env.get("TELEGRAM_BASE_URL") or "").strip() or None,
            admin_ids=parse_admin_ids(env.get("ADMIN_IDS", "")),
            knowledge_dir=Path(env.get("BOT_KNOWLEDGE_DIR") or DEFAULT_KNOWLEDGE_DIR),
            db_path=Path(env.get("BOT_DB_PATH") or DEFAULT_DATA_DIR / "bot.sqlite3"),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            webhook_url=(env.get("WEBHOOK_URL") or "").strip() or None,
            webhook_secret=(env.get("WEBHOOK_SECRET") or "").strip() or None,
            port=int(env.get("PORT") or 8443),
            log_retention_days=int(env.get("BOT_LOG_RETENTION_DAYS") or 90),
        )


def parse_admin_ids(raw: str) -> frozenset[int]:
    """Comma- or space-separated numeric Telegram user ids; anything else is ignored."""
    ids = set()
    for part in raw.replace(",", " ").split():
        if part.lstrip("-").isdigit():
            ids.add(int(part))
    return frozenset(ids)
