"""The error handler: log, apologise to the user in private, and tell the admins."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot import messages
from bot.handlers.context import BotContext
from bot.render import escape

log = logging.getLogger(__name__)
# the error as shown to admins is cut to this many characters
ERROR_CHARS = 500


async def on_error(update: object, context: BotContext) -> None:
    """Log an error raised while handling an update and tell whoever should know."""
    error = context.error
    if isinstance(error, Forbidden):
        # the user blocked the bot or it was removed from the group: nothing to tell anyone
        log.info("cannot write to the chat: %s", error)
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # BadRequest is a NetworkError to PTB, but it is our bug, not the network's
        log.warning("network error: %s", error)
        return
    log.error("error while handling an update", exc_info=error)
    if isinstance(update, Update):
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
            try:
                await context.bot.send_message(chat.id, escape(messages.SORRY))
            except TelegramError as exc:
                log.warning("could not apologise in chat %s: %s", chat.id, exc)
    summary = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
    for admin in sorted(context.services.settings.admin_ids):
        try:
            await context.bot.send_message(
                admin, messages.ADMIN_ERROR.format(error=escape(summary))
            )
        except TelegramError as exc:
            # an admin who never opened the bot cannot be written to
            log.warning("could not tell admin %s about the error: %s", admin, exc)
