"""Faults on the way to the Bot API, and errors in handlers: replies late rather than lost,
never twice; polling that recovers by itself; errors logged and reported, rate-limited.

The retry policy under test (bot/delivery.py, docs/telegram.md "Reliability"): a request is
sent again after a 429 (once retry_after has passed), a 5xx answer or a failed connection;
not after a failure that may have reached Telegram (timeout, connection dropped mid-request).
The bot runs for real against the fake Bot API, which injects the faults; a 1 s request
timeout keeps the timeouts short.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot import messages
from bot.delivery import BACKOFF_SECONDS, Delivery, Stopping, retry_delay
from bot.library import Library
from bot.match import Engine
from bot.segment import Segmenter
from tests.conftest import refusals_checked
from tests.fake_bot_api import TOKEN, Call, FakeBotApi, parse_html, private_chat
from tests.running_bot import KNOWLEDGE, RunningBot, start_bot

ADMIN_ID = 900003
QUESTION = "谁主持了大会"  # answered in one message, naming 王健
FACT = "王健"


@pytest.fixture(scope="module")
def bot(
    api: FakeBotApi, segmenter: Segmenter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBot]:
    with start_bot(api, segmenter, tmp_path_factory, ADMIN_ID, request_timeout=1.0) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test against the bot: no fault left over, nothing Telegram would refuse."""
    with refusals_checked(request, faults=True, callbacks=True):
        yield


def delivered(calls: list[Call], chat_id: int) -> list[Call]:
    """The messages that reached the chat: carried out by the server, answered or not."""
    return [
        c
        for c in calls
        if c.method == "sendMessage" and c.ok and c.result and c.params["chat_id"] == chat_id
    ]


def attempts(
    calls: list[Call], method: str = "sendMessage", chat_id: int | None = None
) -> list[Call]:
    """The calls of `method` (to `chat_id`, if given: the admins may hear of a reload meanwhile)."""
    return [c for c in calls if c.method == method and chat_id in (None, c.params.get("chat_id"))]


# ----- the policy, as a table ------------------------------------------------------------------


def _caused(error: TelegramError, cause: BaseException) -> TelegramError:
    error.__cause__ = cause
    return error


REQUEST = httpx.Request("POST", "http://127.0.0.1/botX/sendMessage")


@pytest.mark.parametrize(
    ("error", "method", "again"),
    [
        (RetryAfter(3), "sendMessage", True),
        (RetryAfter(3600), "sendMessage", False),  # its moment has passed
        (NetworkError("Bad Gateway"), "sendMessage", True),  # a 5xx answer
        (_caused(NetworkError("x"), httpx.ConnectError("refused")), "sendMessage", True),
        (_caused(TimedOut(), httpx.ConnectTimeout("slow")), "sendMessage", True),
        (_caused(TimedOut(), httpx.PoolTimeout("busy")), "sendMessage", True),
        (_caused(TimedOut(), httpx.ReadTimeout("late")), "sendMessage", False),
        (_caused(TimedOut(), httpx.WriteTimeout("late")), "answerCallbackQuery", False),
        (
            _caused(NetworkError("x"), httpx.RemoteProtocolError("disconnected")),
            "sendMessage",
            False,
        ),
        (_caused(NetworkError("x"), httpx.ReadError("reset")), "editMessageText", False),
        (_caused(TimedOut(), httpx.ReadTimeout("late")), "setMyCommands", True),
        (_caused(NetworkError("x"), httpx.ReadError("reset")), "getMe", True),
        (BadRequest("Bad Request: message is too long"), "sendMessage", False),
        (BadRequest("Bad Request: chat not found"), "getMe", False),
        (Forbidden("Forbidden: bot was blocked by the user"), "sendMessage", False),
        (InvalidToken("Unauthorized"), "getMe", False),
        (Conflict("terminated by other getUpdates request"), "sendMessage", False),
    ],
)
def test_retry_policy(error: TelegramError, method: str, again: bool) -> None:
    assert (retry_delay(error, method, 1) is not None) is again


def test_retries_are_bounded() -> None:
    refused = _caused(NetworkError("x"), httpx.ConnectError("refused"))
    waits = [retry_delay(refused, "sendMessage", n) for n in range(1, 10)]
    assert waits[: len(BACKOFF_SECONDS)] == list(BACKOFF_SECONDS)
    assert set(waits[len(BACKOFF_SECONDS) :]) == {None}


async def test_a_stop_cuts_the_waits_short() -> None:
    """A request waiting to be sent again is given up once the stop's grace has run out."""
    delivery = Delivery()
    tries = 0

    async def refused() -> bool:
        nonlocal tries
        tries += 1
        raise _caused(NetworkError("refused"), httpx.ConnectError("refused"))

    sending = asyncio.ensure_future(
        delivery.process_request(refused, (), {}, "sendMessage", {"chat_id": 1}, None)
    )
    await asyncio.sleep(0.7)  # the second try has failed; the third waits 1 s
    started = time.monotonic()
    delivery.stop_soon(0.2)
    with pytest.raises(NetworkError):
        await sending
    assert time.monotonic() - started < 0.5 and tries == 2
    # and once the grace is over nothing waits: what the flood limit holds back is given up
    waiting = [
        delivery.process_request(_ok, (), {}, "sendMessage", {"chat_id": n}, None)
        for n in range(1, 41)
    ]
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(r is True or isinstance(r, Stopping) for r in results)
    assert any(isinstance(r, Stopping) for r in results)


async def _ok() -> bool:
    return True


async def test_flood_limits_queue_rather_than_drop() -> None:
    """Over 30 messages a second are held back, not refused; groups get 20 a minute."""
    delivery = Delivery()
    started = asyncio.get_running_loop().time()
    sent = await asyncio.gather(
        *[
            delivery.process_request(_ok, (), {}, "sendMessage", {"chat_id": n}, None)
            for n in range(1, 46)
        ]
    )
    assert all(sent) and asyncio.get_running_loop().time() - started >= 0.4
    delivery = Delivery()
    group = [
        delivery.process_request(_ok, (), {}, "sendMessage", {"chat_id": -100}, None)
        for _ in range(21)
    ]
    done, pending = await asyncio.wait([asyncio.ensure_future(g) for g in group], timeout=0.5)
    assert len(done) == 20 and len(pending) == 1  # the 21st waits its turn (3 s)
    for task in pending:
        task.cancel()


# ----- replies through faults ----------------------------------------------------------------


def test_429_waits_retry_after_and_replies_once(bot: RunningBot) -> None:
    user = bot.user()
    bot.api.fail("sendMessage", "429", retry_after=1)
    started = time.monotonic()
    calls = bot.say(user, QUESTION)
    assert [c.fault for c in attempts(calls, chat_id=user["id"])] == ["429", None]
    (reply,) = delivered(calls, user["id"])
    assert FACT in parse_html(reply.params["text"])
    assert time.monotonic() - started >= 1.0  # retry_after honoured


def test_a_5xx_answer_is_sent_again(bot: RunningBot) -> None:
    user = bot.user()
    bot.api.fail("sendMessage", "502")
    bot.api.fail("sendMessage", "502-html")  # an HTML error page PTB cannot parse
    calls = bot.say(user, QUESTION)
    assert [c.fault for c in attempts(calls, chat_id=user["id"])] == ["502", "502-html", None]
    assert len(delivered(calls, user["id"])) == 1


@pytest.mark.parametrize(
    ("fault", "arrived"),
    [
        ("timeout", 1),  # carried out, answered after the client gave up
        ("lost-answer", 1),  # carried out, connection dropped before the answer
        ("drop", 0),  # connection dropped before it was carried out: lost (at most once)
    ],
)
def test_what_may_have_arrived_is_never_sent_twice(
    bot: RunningBot, fault: str, arrived: int, caplog: pytest.LogCaptureFixture
) -> None:
    user = bot.user()
    bot.api.fail("sendMessage", fault, delay=1.5)
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        calls = bot.say(user, QUESTION)
    assert len(attempts(calls, chat_id=user["id"])) == 1, "sent again although Telegram may have it"
    assert len(delivered(calls, user["id"])) == arrived
    assert "sendMessage not sent again" in caplog.text
    # and the bot carries on
    assert len(delivered(bot.say(user, QUESTION), user["id"])) == 1


def test_an_outage_delays_the_reply_and_polling_recovers(bot: RunningBot) -> None:
    user = bot.user()
    bot.api.outage_after_updates(1.0)
    started = time.monotonic()
    update_id = bot.push(bot.api.text_message(private_chat(user), user, QUESTION))
    bot.wait_handled([update_id], timeout=20)
    # connections were refused meanwhile: the one request that got through is the reply
    (reply,) = bot.api.sent(user["id"])
    assert time.monotonic() - started >= 1.0 and FACT in parse_html(reply.params["text"])
    # polling found its way back by itself
    assert len(delivered(bot.say(user, QUESTION), user["id"])) == 1
    assert bot.app is not None and bot.app.updater is not None and bot.app.updater.running


def test_polling_backs_off_and_recovers(bot: RunningBot) -> None:
    user = bot.user()
    bot.api.fail("getUpdates", "502")
    bot.api.fail("getUpdates", "drop")
    # the poll in flight is not faulted: this question ends it, and the next two polls fail
    assert len(delivered(bot.say(user, QUESTION), user["id"])) == 1
    assert len(delivered(bot.say(user, QUESTION, timeout=20), user["id"])) == 1
    assert len(bot.api.faulted("getUpdates")) == 2


def test_button_answers_go_through_faults_exactly_once(bot: RunningBot) -> None:
    user = bot.user()
    reply = delivered(bot.say(user, QUESTION), user["id"])[-1]
    message = bot.api.message(user["id"], reply.result["message_id"])
    related = next(
        b["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for b in row
        if b.get("callback_data", "").startswith("q:")
    )
    bot.api.fail("answerCallbackQuery", "502")
    calls = bot.send(bot.api.callback(user, message, related))
    assert [c.fault for c in attempts(calls, "answerCallbackQuery")] == ["502", None]
    assert len(delivered(calls, user["id"])) >= 1


def test_inline_answers_go_through_faults_exactly_once(bot: RunningBot) -> None:
    user = bot.user()
    bot.api.fail("answerInlineQuery", "502")
    calls = bot.send(bot.api.inline_query(user, QUESTION))
    assert [c.fault for c in attempts(calls, "answerInlineQuery")] == ["502", None]


def test_edits_go_through_faults(bot: RunningBot) -> None:
    user = bot.user()
    (menu,) = delivered(bot.say(user, "/topics"), user["id"])
    message = bot.api.message(user["id"], menu.result["message_id"])
    first_topic = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    bot.api.fail("editMessageText", "502")
    calls = bot.send(bot.api.callback(user, message, first_topic))
    edits = attempts(calls, "editMessageText")
    assert [c.fault for c in edits] == ["502", None] and edits[-1].ok


# ----- errors in handlers ----------------------------------------------------------------------


class _BrokenLibrary(Library):
    @property
    def engine(self) -> Engine:
        raise RuntimeError(f"boom with {TOKEN} in it")


def test_an_error_is_logged_reported_once_and_the_bot_goes_on(
    bot: RunningBot, segmenter: Segmenter, caplog: pytest.LogCaptureFixture
) -> None:
    services = bot.services
    now = [1000.0]
    saved_clock, saved_library = services.clock, services.library
    services.clock = lambda: now[0]
    services.library = _BrokenLibrary(KNOWLEDGE, segmenter)
    users = [bot.user() for _ in range(4)]
    try:
        with caplog.at_level(logging.ERROR, logger="bot.handlers.errors"):
            for user in users[:3]:
                assert bot.api.sent(user["id"]) == []
                bot.say(user, QUESTION)
            now[0] += 601  # ten minutes on: the same error is worth a report again
            bot.say(users[3], QUESTION)
    finally:
        services.clock, services.library = saved_clock, saved_library
    for user in users:
        (sorry,) = bot.api.sent(user["id"])
        assert parse_html(sorry.params["text"]) == messages.SORRY
    reports = [parse_html(c.params["text"]) for c in bot.api.sent(ADMIN_ID)]
    assert len(reports) == 2, reports
    assert "RuntimeError: boom with [REDACTED] in it" in reports[0]
    assert "2 个重复的错误" in reports[1]
    assert all(TOKEN not in r and TOKEN.split(":")[1] not in r for r in reports)
    # logged with the update it broke on
    assert "error while handling update" in caplog.text and "private chat" in caplog.text
    assert f"'{QUESTION}'" in caplog.text
    # and the bot goes on answering
    user = bot.user()
    assert FACT in parse_html(delivered(bot.say(user, QUESTION), user["id"])[0].params["text"])
