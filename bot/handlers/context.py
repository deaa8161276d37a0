"""The typed context every handler receives: `context.services` and `context.chat_data`.

PTB creates these per update (see `ContextTypes` in bot/app.py); nothing here is global.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.catalog import Catalog
from bot.config import Settings
from bot.flood import FloodGate, Limits
from bot.library import Library
from bot.match import Engine
from bot.model import Answer
from bot.segment import Segmenter
from bot.store import AsyncStore, StoreError

log = logging.getLogger(__name__)

# the same question in the same group within this many seconds points to the earlier answer
REPEAT_WINDOW = 300.0
# /unanswered question groups remembered for their buttons (older buttons then expire)
BOARD_SIZE = 500
# the same error (type and place in our code) is reported to the admins once in this long
ERROR_REPORT_SECONDS = 600.0


class Services:
    """What handlers need from the rest of the program: settings, knowledge, store, clock."""

    def __init__(
        self,
        settings: Settings,
        library: Library,
        segmenter: Segmenter,
        store: AsyncStore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.library = library
        self.segmenter = segmenter
        self.store = store
        self.clock = clock
        self.board = Board()
        # incoming flood control (bot/handlers/gate.py)
        self.limits = Limits()
        # error reports to the admins (bot/handlers/errors.py), and how many were held back
        self.error_reports = FloodGate(1, ERROR_REPORT_SECONDS, cooldown=ERROR_REPORT_SECONDS)
        self.unreported_errors = 0
        # the knowledge watcher (bot/app.py start_watching), stopped in post_shutdown
        self.watcher: asyncio.Task[None] | None = None
        self.watcher_stop: asyncio.Event | None = None
        # whether the last automatic reload failed (the next good one is then worth a note)
        self.knowledge_broken = False
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

    async def record_answer(self, answer: Answer, *, chat_type: str, user_id: int) -> None:
        """Log a question and its outcome; a failing store never stops the bot answering."""
        try:
            await self.store.record_answer(answer, chat_type=chat_type, user_id=user_id)
        except (StoreError, sqlite3.Error):
            log.exception("could not log a question")


class Board:
    """The question groups /unanswered showed, by a short id that buttons carry instead of
    the text (callback data hold 64 bytes). In memory: after a restart the buttons expire."""

    def __init__(self, size: int = BOARD_SIZE) -> None:
        self._size = size
        self._texts: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._next = 1

    def add(self, text: str) -> int:
        """The id of this question text (the same id when shown again)."""
        if text in self._ids:
            return self._ids[text]
        number = self._next
        self._next += 1
        self._texts[number] = text
        self._ids[text] = number
        while len(self._texts) > self._size:
            oldest = next(iter(self._texts))
            del self._ids[self._texts.pop(oldest)]
        return number

    def get(self, number: int) -> str | None:
        return self._texts.get(number)


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
