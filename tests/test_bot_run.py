"""`python -m bot` as a process: long polling and webhook mode against the fake Bot API, a clean
stop on SIGTERM with the reply in flight finished, and start-up refused on broken knowledge.
(The terminal chat without a token is tested in test_cli.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_bot_api import TOKEN, FakeBotApi, make_user, private_chat

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
START_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One jieba cache for every process of this module (the first one builds it)."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    server = FakeBotApi().start()
    yield server
    server.stop()


def _env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "WEBHOOK_", "BOT_", "ADMIN_")) and k != "PORT"
    }
    env.update(
        XDG_CACHE_HOME=str(cache_dir),
        BOT_KNOWLEDGE_DIR=str(KNOWLEDGE),
        BOT_DB_PATH=str(cache_dir / "bot.sqlite3"),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _start(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _question(api: FakeBotApi, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    user = make_user(777001)
    api.know_chat(private_chat(user))
    return user, api.text_message(private_chat(user), user, text)


def test_polling_answers_and_sigterm_finishes_the_reply_in_flight(
    api: FakeBotApi, cache_dir: Path, tmp_path: Path
) -> None:
    env = _env(cache_dir, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=api.base_url)
    proc, log = _start(env, tmp_path)
    try:
        assert api.wait_for(lambda: bool(api.calls_to("getUpdates")), START_TIMEOUT), (
            log.read_text()
        )
        # warmed before the first update is taken: knowledge loaded, menus set
        first_poll = next(i for i, c in enumerate(api.calls) if c.method == "getUpdates")
        assert "setMyCommands" in [c.method for c in api.calls[:first_poll]]
        allowed = api.calls[first_poll].params["allowed_updates"]
        assert set(allowed) == {"message", "callback_query", "inline_query", "my_chat_member"}

        api.delays["sendMessage"] = 1.5  # the reply is still in flight when SIGTERM arrives
        user, update = _question(api, "谁主持了大会")
        api.push(update)
        assert api.wait_for(lambda: bool(api.calls_to("sendMessage")), 20), log.read_text()
        code = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    (reply,) = api.calls_to("sendMessage")
    assert reply.ok and reply.result is not None, "the reply in flight was cut off"
    assert reply.params["chat_id"] == user["id"] and "王健" in reply.params["text"]
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert api.errors() == []


def test_webhook_mode(api: FakeBotApi, cache_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _env(
        cache_dir,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=api.base_url,
        WEBHOOK_URL="https://bot.example.org/telegram/hook",
        PORT=str(port),
    )
    proc, log = _start(env, tmp_path)
    try:
        assert api.wait_for(lambda: bool(api.calls_to("setWebhook")), START_TIMEOUT), (
            log.read_text()
        )
        (hook,) = api.calls_to("setWebhook")
        assert hook.params["url"] == "https://bot.example.org/telegram/hook"
        secret = hook.params["secret_token"]
        assert secret and TOKEN not in secret
        assert not api.calls_to("getUpdates")

        user, update = _question(api, "谁作了重要讲话")
        api.register(update)
        url = f"http://127.0.0.1:{port}/telegram/hook"
        assert _post(url, update, "wrong-secret") == 403
        assert _post(url, update, secret) == 200
        assert api.wait_for(lambda: bool(api.sent(user["id"])), 20), log.read_text()
        code = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, log.read_text()
    (reply,) = api.sent(user["id"])
    assert "陈晓" in reply.params["text"]
    assert api.errors() == []


def _post(url: str, update: dict[str, Any], secret: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except (ConnectionRefusedError, urllib.error.URLError):
            # the webhook server may start a moment after setWebhook
            time.sleep(0.1)
    raise AssertionError("webhook server never listened")


def test_broken_knowledge_stops_start_up_with_the_problems(
    api: FakeBotApi, cache_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "knowledge"
    (broken / "report").mkdir(parents=True)
    (broken / "report" / "article.txt").write_text("一段报道。\n", encoding="utf-8")
    (broken / "report" / "meta.yaml").write_text("title: 报道\n", encoding="utf-8")
    (broken / "report" / "qa.yaml").write_text("entries:\n  - id: Bad Id\n", encoding="utf-8")
    env = _env(cache_dir, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=api.base_url)
    env["BOT_KNOWLEDGE_DIR"] = str(broken)
    proc, log = _start(env, tmp_path)
    try:
        code = proc.wait(timeout=START_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(encoding="utf-8")
    assert code == 1, output
    assert "qa.yaml:2" in output and "Bad Id" in output
    assert not api.calls_to("getUpdates")


def test_sigterm_while_polling_waits_out_a_429_exits_in_time(
    api: FakeBotApi, cache_dir: Path, tmp_path: Path
) -> None:
    """PTB's own polling loop would sleep out retry_after (here 60 s) before it noticed a
    stop; the bot waits inside the poll instead, which the stop cancels."""
    api.fail("getUpdates", "502")
    api.fail("getUpdates", "429", times=1000, retry_after=60)
    env = _env(cache_dir, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=api.base_url)
    proc, log = _start(env, tmp_path)
    try:
        assert api.wait_for(lambda: bool(api.faulted("getUpdates")[1:]), START_TIMEOUT), (
            log.read_text()
        )
        time.sleep(0.5)  # well into the 60 s wait
        started = time.monotonic()
        code = _stop(proc)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0 and took < 10, output
    # after the 429 no long poll was made, only PTB's confirming call at the stop (timeout 0)
    after = api.calls_to("getUpdates")[2:]
    assert [c.params.get("timeout") for c in after] == [0], output
    assert api.errors() == []


# a token the log scan can recognise anywhere (and the shape TOKEN_SHAPE redacts)
LEAKY_TOKEN = "5550001234:LEAKCHECK_zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"


def test_no_secret_reaches_the_logs_through_faults(cache_dir: Path, tmp_path: Path) -> None:
    """Faults at start-up, while polling and while replying, with every log at DEBUG and
    error pages that echo the request URL: the token is in no log line, traceback or request,
    and both replies arrive exactly once."""
    api = FakeBotApi(token=LEAKY_TOKEN).start()
    try:
        api.fail("setMyCommands", "502-html")
        api.fail("deleteWebhook", "drop")
        api.fail("getUpdates", "502-html")
        env = _env(
            cache_dir,
            TELEGRAM_BOT_TOKEN=LEAKY_TOKEN,
            TELEGRAM_BASE_URL=api.base_url,
            TELEGRAM_REQUEST_TIMEOUT="1",
            LOG_LEVEL="DEBUG",
        )
        proc, log = _start(env, tmp_path)
        try:
            polling = lambda: any(c.ok for c in api.calls_to("getUpdates"))  # noqa: E731
            assert api.wait_for(polling, START_TIMEOUT), log.read_text()
            user, update = _question(api, "谁主持了大会")
            api.fail("sendMessage", "502-html")
            api.push(update)
            assert api.wait_for(lambda: bool(api.sent(user["id"])), 20), log.read_text()
            api.fail("sendMessage", "timeout", delay=1.2)
            api.push(api.text_message(private_chat(user), user, "谁作了重要讲话"))
            assert api.wait_for(lambda: len(api.sent(user["id"])) == 2, 20), log.read_text()
            api.push(api.callback(user, None, "forged:" + LEAKY_TOKEN[:20]))
            assert api.wait_for(lambda: not api.unanswered_callbacks(), 20), log.read_text()
            code = _stop(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        output = log.read_text(encoding="utf-8", errors="replace")
        requests = json.dumps([c.params for c in api.calls], ensure_ascii=False)
    finally:
        api.stop()
    assert code == 0, output
    secret = LEAKY_TOKEN.split(":")[1]
    assert secret not in output and LEAKY_TOKEN not in output
    assert secret not in requests
    # the error pages did carry it: the redaction is what kept it out
    assert "[REDACTED]" in output
    assert "sending it again" in output and "not sent again" in output
    first, second = (r.params["text"] for r in api.sent(user["id"]))
    assert "王健" in first and "陈晓" not in first  # who chaired
    assert "陈晓" in second and "重要讲话" in second  # who spoke (the answer names the chair too)
    assert len(api.calls_to("sendMessage")) == 3  # the 502, the reply; the timed-out one
    assert api.errors() == []
