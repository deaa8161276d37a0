"""The typed context every handler receives: `context.services` and `context.chat_data`.

PTB creates these per update (see `ContextTypes` in bot/app.py); nothing here is global.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.catalog import Catalog
from bot.config import Settings
from bot.library import Library
from bot.match import Engine
from bot.segment import Segmenter

# the same question in the same group within this many seconds points to the earlier answer
REPEAT_WINDOW = 300.0


class Services:
    """What handlers need from the rest of the program: settings, knowledge, clock."""

    def __init__(
        self,
        settings: Settings,
        library: Library,
        segmenter: Segmenter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.library = library
        self.segmenter = segmenter
        self.clock = clock
        self.feedback_log = logging.getLogger("bot.feedback")
        self._catalog: Catalog | None = None

    @property
    def engine(self) -> Engine:
        """The serving engine; take it once per update, a reload may swap it at any time."""
        return self.library.engine

    def catalog(self, engine: Engine) -> Catalog:
        """Topics and examples of `engine`'s knowledge, derived once per engine."""
        if self._catalog is None or self._catalog.engine is not engine:
            self._catalog = Catalog(engine)
        return self._catalog

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids


class BotData:
    """The bot-wide data PTB keeps: the services, bound once by `build_application`."""

    def __init__(self) -> None:
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services not bound: build the application with build_application")
        return self._services

    def bind(self, services: Services) -> None:
        self._services = services


@dataclass
class Answered:
    """An answer the bot gave in a group: which message, and when."""

    message_id: int
    at: float


@dataclass
class ChatData:
    """Per chat: the answers recently given there (groups only), by thread and entry."""

    answered: dict[tuple[int | None, str], Answered] = field(default_factory=dict)

    def recent(self, thread: int | None, entry_id: str, now: float) -> Answered | None:
        """The earlier answer to the same entry in the same thread, if within the window."""
        self._forget(now)
        return self.answered.get((thread, entry_id))

    def remember(self, thread: int | None, entry_id: str, message_id: int, now: float) -> None:
        self._forget(now)
        self.answered[(thread, entry_id)] = Answered(message_id, now)

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self.answered.items() if now - v.at > REPEAT_WINDOW]:
            del self.answered[key]


class BotContext(CallbackContext[ExtBot[Any], dict[Any, Any], ChatData, BotData]):
    """The callback context of this bot: `context.services` instead of string keys."""

    @property
    def services(self) -> Services:
        return self.bot_data.services


QaApplication = Application[ExtBot[Any], BotContext, dict[Any, Any], ChatData, BotData, Any]
