"""Logging that leaks no secret: the bot token (and anything shaped like one) is redacted from
every record on its way out, message, arguments and traceback alike.

The token is in every Bot API URL, so it turns up in exception texts (an error page that echoes
the URL) and in httpx's request log; the filter is the net under all of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
# a Telegram bot token: the bot's numeric id, a colon, 35 URL-safe characters (some leeway)
TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# secrets shorter than this are not redacted by value (they would mangle ordinary words)
MIN_SECRET_CHARS = 8


def quiet_http_logs() -> None:
    """At INFO httpx logs every request URL, and the URL carries the bot token."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Redactor:
    """Replaces the given secrets, and whatever looks like a bot token, with [REDACTED]."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        kept = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len)
        # longest first, so that a secret containing another is replaced whole
        self._secrets = kept[::-1]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return TOKEN_SHAPE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record in place: its message (with the arguments
    merged in), its traceback text and its stack text."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep what there is
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # formatters print exc_text as it is (they format exc_info only when it is empty)
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def redact_logs(secrets: Iterable[str | None]) -> Redactor:
    """Install a redacting filter on every handler of the root logger (once per handler)."""
    redact = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(redact))
    return redact


def configure_logging(level: str, secrets: Iterable[str | None]) -> Redactor:
    """The bot's logging: one line per record on stderr, httpx quiet, secrets redacted."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)  # warnings too go through the handlers, and the filter
    quiet_http_logs()
    return redact_logs(secrets)
