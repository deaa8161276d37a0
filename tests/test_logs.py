"""Logging leaks no secret (bot/logs.py): the filter redacts the token, anything shaped like
a bot token and the webhook secret from messages, arguments, tracebacks and stacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.config import Settings, webhook_secret
from bot.logs import REDACTED, RedactingFilter, Redactor, redact_logs

TOKEN = "123456789:AAH-fake-token-for-tests_0123456789"
OTHER_TOKEN = "987654321:BBx_another_bot_token_0123456789ab"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """A handler on the root logger, as logging.basicConfig makes one, with the filter on."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    settings = Settings(token=TOKEN)
    redact_logs(settings.secrets())
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for handler_ in root.handlers:  # pytest's own handlers got the filter too
            for f in [f for f in handler_.filters if isinstance(f, RedactingFilter)]:
                handler_.removeFilter(f)


def test_the_token_is_redacted_everywhere(output: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.warning("url http://api/bot%s/getMe", TOKEN)
    log.warning("plain " + TOKEN)
    log.warning("another bot's token %s", OTHER_TOKEN)
    try:
        raise RuntimeError(f"failed POST /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("with a traceback")
    log.warning("with a stack", stack_info=True)
    # httpx at INFO logs every URL: even if someone turns it up again
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.INFO)
    try:
        httpx_log.info('HTTP Request: POST http://api/bot%s/getUpdates "200 OK"', TOKEN)
    finally:
        httpx_log.setLevel(level)
    text = output.getvalue()
    assert TOKEN.split(":")[1] not in text and OTHER_TOKEN.split(":")[1] not in text
    assert text.count(REDACTED) >= 5
    assert "RuntimeError: failed POST /bot[REDACTED]/sendMessage" in text
    assert "Traceback" in text and "with a stack" in text


def test_secrets_and_shapes() -> None:
    settings = Settings(token=TOKEN)
    redact = Redactor(settings.secrets())
    assert webhook_secret(settings) in settings.secrets()
    assert redact(f"secret={webhook_secret(settings)}") == f"secret={REDACTED}"
    assert redact(f"bot{OTHER_TOKEN}/x") == f"bot{REDACTED}/x"
    # ordinary text, and secrets too short to redact safely, are left alone
    assert Redactor(["abc"])("abc 12:34 谁主持了大会") == "abc 12:34 谁主持了大会"
    assert Settings().secrets() == ()


def test_a_record_with_bad_arguments_still_gets_out(output: io.StringIO) -> None:
    logging.getLogger("bot.test").warning("%d items for %s", "not a number", TOKEN)
    assert TOKEN not in output.getvalue() and "items for" in output.getvalue()
