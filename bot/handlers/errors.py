"""The error handler: log with the update, apologise to the user in private, tell the admins.

One failing update never stops the bot (PTB calls this and goes on with the next one). The
same error (its type and the line of our code it came from) is reported to the admins at
most once in ten minutes; the report says how many were held back meanwhile.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import messages
from bot.flood import Verdict
from bot.handlers.context import BotContext, Services
from bot.logs import Redactor
from bot.render import escape

log = logging.getLogger(__name__)
# the error as shown to admins is cut to this many characters
ERROR_CHARS = 500
# user text quoted in the log line of a failed update
LOGGED_TEXT_CHARS = 80
PACKAGE = Path(__file__).resolve().parent.parent


async def on_error(update: object, context: BotContext) -> None:
    """Log an error raised while handling an update and tell whoever should know."""
    error = context.error
    if error is None:
        return
    if isinstance(error, Forbidden):
        # the user blocked the bot or it was removed from the group: nothing to tell anyone
        log.info("cannot write to the chat: %s", error)
        return
    if isinstance(error, NetworkError | RetryAfter) and not isinstance(error, BadRequest):
        # BadRequest is a NetworkError to PTB, but it is our bug, not the network's
        # (bot/delivery.py already sent again what could be; this is what could not)
        log.warning("network error while handling %s: %s", describe(update), error)
        return
    log.error("error while handling %s", describe(update), exc_info=error)
    if isinstance(update, Update):
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
            try:
                await context.bot.send_message(chat.id, escape(messages.SORRY))
            except TelegramError as exc:
                log.warning("could not apologise in chat %s: %s", chat.id, exc)
    text = report_text(context.services, error)
    if text is None:
        return
    for admin in sorted(context.services.settings.admin_ids):
        try:
            await context.bot.send_message(admin, text)
        except TelegramError as exc:
            # an admin who never opened the bot cannot be written to
            log.warning("could not tell admin %s about the error: %s", admin, exc)


def report_text(services: Services, error: BaseException) -> str | None:
    """The admins' report of `error`, or None if the same error was reported lately."""
    verdict = services.error_reports.hit(origin(error), services.clock())
    if verdict is not Verdict.ALLOW:
        services.unreported_errors += 1
        return None
    redact = Redactor(services.settings.secrets())
    summary = redact(f"{type(error).__name__}: {error}")[:ERROR_CHARS]
    text = messages.ADMIN_ERROR.format(error=escape(summary))
    if services.unreported_errors:
        text += messages.ADMIN_ERROR_HELD_BACK.format(count=services.unreported_errors)
        services.unreported_errors = 0
    return text


def origin(error: BaseException) -> str:
    """The error's type and the last line of the bot's own code it passed through."""
    place = "?"
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve().is_relative_to(PACKAGE):
            place = f"{Path(frame.filename).name}:{frame.lineno}"
    return f"{type(error).__name__} at {place}"


def describe(update: object) -> str:
    """An update in a few words for the log: its id and kind, the chat type, the text cut short
    (no user id or name: the log keeps no one's identity)."""
    if not isinstance(update, Update):
        return repr(update)[:LOGGED_TEXT_CHARS]
    kind = next((k for k in Update.ALL_TYPES if getattr(update, k, None) is not None), "update")
    parts = [f"update {update.update_id} ({kind}"]
    chat = update.effective_chat
    if chat is not None:
        parts.append(f", {chat.type} chat")
    message = update.effective_message
    text = (message.text or message.caption) if message is not None else None
    if update.inline_query is not None:
        text = update.inline_query.query
    if update.callback_query is not None:
        text = update.callback_query.data
    if text:
        cut = text[:LOGGED_TEXT_CHARS] + ("…" if len(text) > LOGGED_TEXT_CHARS else "")
        parts.append(f", {len(text)} characters: {cut!r}")
    return "".join(parts) + ")"
