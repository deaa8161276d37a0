"""The real bot, polling a FakeBotApi from a thread of its own, for synchronous tests.

Hypothesis drives synchronous tests, and a flood is easiest to send from outside the bot's
event loop; so this harness runs the Application (built by `build_application`, started the
way `run_polling` starts it) on its own loop, and tests push updates and wait, as Telegram
would. An update counts as handled once every handler group is done with it, or once the
gate stopped it (bot/handlers/gate.py).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.app import ALLOWED_UPDATES, GATE_GROUP, build_application, post_init, post_shutdown
from bot.config import Settings
from bot.handlers.context import QaApplication, Services
from bot.segment import Segmenter
from tests.fake_bot_api import TOKEN, Call, FakeBotApi, make_group, make_user, private_chat

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
START_SECONDS = 60.0

T = TypeVar("T")
_ids = itertools.count(500_000)


class RunningBot:
    """Start with `start()` (or `with`), push updates with `send` / `push`, stop with `stop()`."""

    def __init__(
        self, api: FakeBotApi, settings: Settings, segmenter: Segmenter, knowledge: Path
    ) -> None:
        self.api = api
        self.settings = settings
        self.segmenter = segmenter
        self.knowledge = knowledge
        self.processed: set[int] = set()
        self.app: QaApplication | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="running-bot", daemon=True)

    # ----- life cycle -----------------------------------------------------------------------

    def start(self) -> RunningBot:
        self._thread.start()
        if not self._ready.wait(START_SECONDS) or self._failure is not None:
            raise RuntimeError("the bot did not start") from self._failure
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._failure is not None:
            raise RuntimeError("the bot failed") from self._failure

    def __enter__(self) -> RunningBot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = build_application(self.settings, self.knowledge, segmenter=self.segmenter)
        self.app = app
        for handler in app.handlers.get(GATE_GROUP, []):
            _mark_stops(handler, self.processed)

        async def mark(update: Update, context: object) -> None:
            self.processed.add(update.update_id)

        # the last group runs after every other handler (and the error handler) is done
        app.add_handler(TypeHandler(Update, mark), group=99)
        await app.initialize()
        assert app.updater is not None
        try:
            await post_init(app)
            await app.updater.start_polling(
                poll_interval=0.0, timeout=2, allowed_updates=ALLOWED_UPDATES
            )
            await app.start()
            self._ready.set()
            await self._stop.wait()
        finally:
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
            await post_shutdown(app)

    # ----- what tests use ---------------------------------------------------------------------

    @property
    def services(self) -> Services:
        assert self.app is not None
        return self.app.bot_data.services

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        """Run a coroutine on the bot's loop (to read or change its state) and return its result."""
        assert self.loop is not None

        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def user(self, first_name: str = "小李") -> dict[str, Any]:
        """A new user who has opened the bot (so its private chat is known)."""
        user = make_user(next(_ids), first_name)
        self.api.know_chat(private_chat(user))
        return user

    def group(self, **kwargs: Any) -> dict[str, Any]:
        chat = make_group(-1002000000000 - next(_ids), **kwargs)
        self.api.know_chat(chat)
        return chat

    def push(self, update: dict[str, Any]) -> int:
        """Queue one update for getUpdates; its update id."""
        return int(self.api.push(update)["update_id"])

    def wait_handled(self, update_ids: Iterable[int], timeout: float = 30.0) -> None:
        ids = set(update_ids)
        deadline = time.monotonic() + timeout
        while not ids <= self.processed:
            if time.monotonic() > deadline:
                missing = sorted(ids - self.processed)
                raise AssertionError(f"{len(missing)} update(s) never handled: {missing[:10]}")
            time.sleep(0.005)

    def send(self, update: dict[str, Any], timeout: float = 30.0) -> list[Call]:
        """Push the update, wait until it is handled, return the calls made meanwhile."""
        start = len(self.api.calls)
        self.wait_handled([self.push(update)], timeout)
        return [c for c in self.api.calls[start:] if c.method != "getUpdates"]

    def say(
        self,
        user: dict[str, Any],
        text: str,
        chat: dict[str, Any] | None = None,
        *,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> list[Call]:
        chat = chat if chat is not None else private_chat(user)
        return self.send(self.api.text_message(chat, user, text, **kwargs), timeout)


def private_knowledge(factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped knowledge for one bot: the bot watches its folder, and an edit of
    the shipped files meanwhile must not make it reload (and tell its admins) mid-test."""
    target = factory.mktemp("knowledge") / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


def start_bot(
    api: FakeBotApi,
    segmenter: Segmenter,
    factory: pytest.TempPathFactory,
    admin_id: int,
    **settings: Any,
) -> RunningBot:
    """A RunningBot with one admin (whose private chat the server knows), its own database and
    its own copy of the knowledge; `settings` add to or override the Settings fields."""
    api.know_chat(private_chat(make_user(admin_id, "管理员")))
    chosen = Settings(
        token=TOKEN,
        base_url=api.base_url,
        admin_ids=frozenset({admin_id}),
        db_path=factory.mktemp("db") / "bot.sqlite3",
        **settings,
    )
    return RunningBot(api, chosen, segmenter, private_knowledge(factory))


def _mark_stops(handler: BaseHandler[Any, Any, Any], processed: set[int]) -> None:
    """Count an update the handler stops (ApplicationHandlerStop) as handled."""
    callback = handler.callback

    async def marking(update: Update, context: Any) -> Any:
        try:
            return await callback(update, context)
        except ApplicationHandlerStop:
            processed.add(update.update_id)
            raise

    handler.callback = marking
