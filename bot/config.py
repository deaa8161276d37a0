"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import hashlib
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
    # seconds to wait for the Bot API to accept a connection, take a request or answer it
    request_timeout: float = 5.0

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
            request_timeout=float(env.get("TELEGRAM_REQUEST_TIMEOUT") or 5.0),
        )

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a log, an error report or a reply."""
        if not self.token:
            return ()
        return (self.token, webhook_secret(self))


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, else one derived from the token (Telegram sends it with each update)."""
    if settings.webhook_secret:
        return settings.webhook_secret
    return hashlib.sha256(f"webhook:{settings.token}".encode()).hexdigest()[:32]


def parse_admin_ids(raw: str) -> frozenset[int]:
    """Comma- or space-separated numeric Telegram user ids; anything else is ignored."""
    ids = set()
    for part in raw.replace(",", " ").split():
        if part.lstrip("-").isdigit():
            ids.add(int(part))
    return frozenset(ids)
