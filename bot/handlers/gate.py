"""The gate every update passes before any other handler (group -1 in bot/app.py).

Messages from other bots stop here. So do floods: past its limit (bot/flood.py) a user in
private, or a group, is told once to slow down and then ignored until a cooldown ends; a
button pressed too often gets the note as its answer (every press must be answered), and
inline queries past their limit go unanswered. Admins are never held back.
"""

from __future__ import annotations

import logging

from telegram import Bot, Message, MessageEntity, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import messages
from bot.flood import Verdict
from bot.handlers import group
from bot.handlers.context import BotContext
from bot.render import escape

log = logging.getLogger(__name__)


async def check(update: Update, context: BotContext) -> None:
    """Stop the update here if it comes from another bot or goes over its sender's limit."""
    if update.message is not None and _from_another_bot(update.message):
        raise ApplicationHandlerStop
    user = update.effective_user
    if context.services.is_admin(user.id if user else None):
        return
    verdict = _count(update, context)
    if verdict is None or verdict is Verdict.ALLOW:
        return
    try:
        await _say_slow_down(update, context, verdict)
    except TelegramError as exc:
        log.warning("could not ask to slow down: %s", exc)
    raise ApplicationHandlerStop


def _count(update: Update, context: BotContext) -> Verdict | None:
    """Count the update against its sender's limit; None if it does not count."""
    limits, now = context.services.limits, context.services.clock()
    user = update.effective_user
    message = update.message
    if message is not None:
        if message.chat.type == ChatType.PRIVATE:
            return limits.users.hit(message.chat_id, now)
        if message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            if not for_the_bot(message, context.bot):
                return None  # what the bot does not reply to costs nothing
            return limits.groups.hit(message.chat_id, now)
        return None
    if update.callback_query is not None and user is not None:
        return limits.users.hit(user.id, now)
    if update.inline_query is not None and user is not None:
        return limits.inline.hit(user.id, now)
    return None


async def _say_slow_down(update: Update, context: BotContext, verdict: Verdict) -> None:
    """The note, once per cooldown; a button press is always answered (else it spins)."""
    if update.callback_query is not None:
        await update.callback_query.answer(messages.SLOW_DOWN_BUTTON)
        return
    message = update.message
    if verdict is not Verdict.WARN or message is None:
        return
    if message.chat.type == ChatType.PRIVATE:
        log.info("a user went over the question limit")
        await context.bot.send_message(message.chat_id, escape(messages.SLOW_DOWN))
    else:
        log.info("a group went over the question limit")
        # in the same forum topic; the message may have been deleted meanwhile
        await message.reply_text(
            escape(messages.GROUP_SLOW_DOWN),
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )


def _from_another_bot(message: Message) -> bool:
    """A message from another bot. (Anonymous admins and channels post under bot accounts
    too, but with a sender chat: they are people.)"""
    sender = message.from_user
    return sender is not None and sender.is_bot and message.sender_chat is None


def for_the_bot(message: Message, bot: Bot) -> bool:
    """Whether a group message is one the bot replies to: a command for it (/cmd or
    /cmd@bot), a mention of it, or a reply to it."""
    first = message.entities[0] if message.entities else None
    if message.text and first and first.type == MessageEntity.BOT_COMMAND and first.offset == 0:
        _, _, target = message.parse_entity(first).partition("@")
        return not target or target.lower() == (bot.username or "").lower()
    return group.addressed(message, bot)
