"""Groups and supergroups: answer only when addressed, compactly, as a reply; else stay silent.

Addressed means `/ask <question>` (or `/ask@bot`), a message that mentions @bot, or a reply
to one of the bot's own messages. The same question within five minutes in the same group
(and forum topic) gets a pointer to the earlier answer instead of a second copy.
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    ChatMember,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType

from bot import messages
from bot.catalog import Catalog
from bot.handlers import keyboards
from bot.handlers.context import BotContext, ChatData
from bot.model import Entry
from bot.normalise import normalise
from bot.render import (
    articles_phrase,
    escape,
    render_chitchat_html,
    render_clarify_html,
    render_compact_html,
    render_none_html,
)

log = logging.getLogger(__name__)


async def on_text(update: Update, context: BotContext) -> None:
    """Answer a group message that addresses the bot; ignore every other one."""
    message = update.effective_message
    if message is None or message.text is None or not addressed(message, context.bot):
        return
    await answer_question(context, message, message.text)


async def on_added(update: Update, context: BotContext) -> None:
    """Introduce the bot once when it is added to a group."""
    change = update.my_chat_member
    if change is None or change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    if not _joined(change):
        return
    knowledge = context.services.engine.knowledge
    await context.bot.send_message(
        change.chat.id,
        messages.GROUP_WELCOME.format(
            bot=escape(messages.BOT_NAME),
            articles=articles_phrase(knowledge),
            username=escape(context.bot.username),
        ),
    )


def _joined(change: ChatMemberUpdated) -> bool:
    present = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)
    was, now = change.old_chat_member.status, change.new_chat_member.status
    return now in present and was not in present


def addressed(message: Message, bot: Bot) -> bool:
    """Whether a group message is meant for the bot: a reply to it, or a mention of it."""
    if message.via_bot is not None and message.via_bot.id == bot.id:
        return False  # one of our own inline answers, posted by a member
    if message.forward_origin is not None:
        return False  # a forward mentioning the bot was written for someone else
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
        return True
    username = (bot.username or "").lower()
    found = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
    for entity, text in found.items():
        if entity.type == MessageEntity.MENTION and text[1:].lower() == username:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    return False


def _thread(message: Message) -> int | None:
    """The forum topic a message is in (None outside forums): replies stay in it."""
    return message.message_thread_id if message.is_topic_message else None


async def answer_question(context: BotContext, message: Message, question: str) -> None:
    """Reply to `message` with the compact answer, a choice, or a short "not covered"."""
    engine = context.services.engine
    catalog = context.services.catalog(engine)
    if not normalise(question):
        await message.reply_text(
            messages.GROUP_ASK_USAGE.format(username=escape(context.bot.username)), do_quote=True
        )
        return
    answer = engine.ask(question)
    if answer.kind == "answer" and answer.entry is not None:
        await send_answer(context, message, answer.entry, catalog, asker=message.from_user)
    elif answer.kind == "clarify":
        await message.reply_text(
            render_clarify_html(),
            do_quote=True,
            reply_markup=keyboards.questions_keyboard(answer.candidates),
        )
    elif answer.kind == "chitchat" and answer.entry is not None:
        await message.reply_text(render_chitchat_html(answer.entry, examples=False), do_quote=True)
    else:
        await message.reply_text(
            render_none_html(answer),
            do_quote=True,
            reply_markup=keyboards.questions_keyboard(answer.suggestions),
        )
    # anonymous admins and channels have no user: the chat stands in for them
    sender = message.from_user.id if message.from_user else message.chat_id
    await context.services.record_answer(answer, chat_type=message.chat.type, user_id=sender)


async def send_answer(
    context: BotContext, message: Message, entry: Entry, catalog: Catalog, asker: User | None
) -> None:
    """The compact answer as a reply to `message`, or a pointer to the same answer given
    in this group in the last five minutes."""
    chat_data = context.chat_data if context.chat_data is not None else ChatData()
    thread = _thread(message)
    now = context.services.clock()
    username = context.bot.username
    full = keyboards.link_keyboard(
        messages.OPEN_IN_PRIVATE, keyboards.deep_link(username, keyboards.entry_payload(entry))
    )
    earlier = chat_data.recent(thread, entry.id, now)
    if earlier is not None:
        await context.bot.send_message(
            message.chat_id,
            messages.GROUP_REPEAT.format(who=_mention(asker), ago=_ago(now - earlier.at)),
            message_thread_id=thread,
            reply_parameters=_reply_to(earlier.message_id),
            reply_markup=full,
        )
        return
    sent = await context.bot.send_message(
        message.chat_id,
        render_compact_html(entry, catalog.knowledge),
        message_thread_id=thread,
        reply_parameters=_reply_to(message.message_id),
        reply_markup=full,
    )
    chat_data.remember(thread, entry.id, sent.message_id, now)


def _reply_to(message_id: int) -> ReplyParameters:
    # the message may have been deleted meanwhile: then send without the reply
    return ReplyParameters(message_id, allow_sending_without_reply=True)


def _mention(user: User | None) -> str:
    """A mention that notifies the asker ("" for anonymous admins and bots)."""
    if user is None or user.is_bot:
        return ""
    return f'<a href="tg://user?id={user.id}">{escape(user.first_name or str(user.id))}</a>，'


def _ago(seconds: float) -> str:
    if seconds < 60:
        return messages.GROUP_REPEAT_AGO_SECONDS
    return messages.GROUP_REPEAT_AGO_MINUTES.format(minutes=int(seconds // 60))
