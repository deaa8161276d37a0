"""Commands: /start (with deep links), /help, /topics, /source, /ask and unknown ones.

In groups the browsing commands point to the private chat, so as not to fill the group.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Message, MessageEntity, Update

from bot import messages
from bot.handlers import group, keyboards, private
from bot.handlers.context import BotContext
from bot.render import articles_phrase, escape, render_source_html

log = logging.getLogger(__name__)

# the command menus, per scope (set in post_init); every command here is also in /help
PRIVATE_MENU = (
    BotCommand("start", messages.COMMAND_START),
    BotCommand("help", messages.COMMAND_HELP),
    BotCommand("topics", messages.COMMAND_TOPICS),
    BotCommand("source", messages.COMMAND_SOURCE),
    BotCommand("ask", messages.COMMAND_ASK),
)
GROUP_MENU = (
    BotCommand("ask", messages.COMMAND_ASK),
    BotCommand("help", messages.COMMAND_HELP),
)
# admin commands are in bot/handlers/admin.py; only admins' own chats get them in the menu
ADMIN_MENU = (
    *PRIVATE_MENU,
    BotCommand("stats", messages.COMMAND_STATS),
    BotCommand("unanswered", messages.COMMAND_UNANSWERED),
    BotCommand("teach", messages.COMMAND_TEACH),
    BotCommand("reload", messages.COMMAND_RELOAD),
)


def command_argument(message: Message) -> str:
    """The text after the leading /command (or /command@bot), whatever follows it."""
    text = message.text or ""
    for entity in message.entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            return text[len(message.parse_entity(entity)) :].strip()
    return text


# ----- private chats ---------------------------------------------------------------------------


async def start(update: Update, context: BotContext) -> None:
    """Welcome the user, or open what a deep link points to (q_<entry>, topics, source)."""
    message = update.effective_message
    if message is None:
        return
    payload = context.args[0] if context.args else ""
    if payload == "topics":
        await send_topics(context, message.chat_id)
        return
    if payload == "source":
        await send_source(context, message.chat_id)
        return
    entry_id = keyboards.entry_from_payload(payload)
    if entry_id is not None:
        catalog = context.services.catalog(context.services.engine)
        entry = catalog.fact(entry_id)
        if entry is not None:
            await private.send_entry(context, message.chat_id, entry, catalog)
            return
        await context.bot.send_message(message.chat_id, escape(messages.DEEP_LINK_GONE))
    await send_welcome(context, message.chat_id)


async def send_welcome(context: BotContext, chat_id: int) -> None:
    catalog = context.services.catalog(context.services.engine)
    text = messages.WELCOME.format(
        bot=escape(messages.BOT_NAME), articles=articles_phrase(catalog.knowledge)
    )
    if catalog.examples:
        text += "\n\n" + escape(messages.WELCOME_EXAMPLES)
    await context.bot.send_message(
        chat_id, text, reply_markup=keyboards.questions_keyboard(catalog.examples, browse=True)
    )


async def help_private(update: Update, context: BotContext) -> None:
    """Explain how to use the bot, in private, in groups and inline."""
    message = update.effective_message
    if message is None:
        return
    text = help_text(context.bot.username)
    if context.services.is_admin(message.from_user.id if message.from_user else None):
        text += messages.HELP_ADMIN
    await context.bot.send_message(message.chat_id, text)


def help_text(username: str) -> str:
    return messages.HELP.format(bot=escape(messages.BOT_NAME), username=escape(username))


async def topics(update: Update, context: BotContext) -> None:
    """Show the first page of topics."""
    message = update.effective_message
    if message is not None:
        await send_topics(context, message.chat_id)


async def send_topics(context: BotContext, chat_id: int) -> None:
    catalog = context.services.catalog(context.services.engine)
    page = keyboards.topics_page(catalog, 0)
    if page is None or not catalog.topics:
        await context.bot.send_message(chat_id, escape(messages.NO_TOPICS))
        return
    await context.bot.send_message(
        chat_id,
        topics_text(page.number, page.count),
        reply_markup=keyboards.topics_keyboard(catalog, page),
    )


def topics_text(number: int, count: int) -> str:
    return messages.TOPICS.format(page=number + 1, pages=count)


async def source(update: Update, context: BotContext) -> None:
    """Show the report's title, date and publisher, with a button for its full text."""
    message = update.effective_message
    if message is not None:
        await send_source(context, message.chat_id)


async def send_source(context: BotContext, chat_id: int) -> None:
    knowledge = context.services.engine.knowledge
    await context.bot.send_message(
        chat_id, render_source_html(knowledge), reply_markup=keyboards.source_keyboard(knowledge)
    )


async def ask_private(update: Update, context: BotContext) -> None:
    """Answer the question after /ask."""
    message = update.effective_message
    if message is None:
        return
    question = command_argument(message)
    if not question:
        await context.bot.send_message(message.chat_id, escape(messages.ASK_USAGE))
        return
    await private.answer_question(context, message.chat_id, question)


async def unknown(update: Update, context: BotContext) -> None:
    """Say that a command does not exist and where to find the ones that do."""
    message = update.effective_message
    if message is not None:
        await context.bot.send_message(message.chat_id, escape(messages.UNKNOWN_COMMAND))


# ----- groups ------------------------------------------------------------------------------------


async def ask_group(update: Update, context: BotContext) -> None:
    """Answer the question after /ask (or /ask@bot), compactly, as a reply."""
    message = update.effective_message
    if message is None:
        return
    await group.answer_question(context, message, command_argument(message))


async def help_group(update: Update, context: BotContext) -> None:
    """Say briefly how to ask in a group, with a button to the private chat."""
    message = update.effective_message
    if message is None:
        return
    knowledge = context.services.engine.knowledge
    username = context.bot.username
    await message.reply_text(
        messages.GROUP_HELP.format(
            bot=escape(messages.BOT_NAME),
            articles=articles_phrase(knowledge),
            username=escape(username),
        ),
        do_quote=True,
        reply_markup=keyboards.link_keyboard(
            messages.OPEN_BOT.format(bot=messages.BOT_NAME), keyboards.deep_link(username, "start")
        ),
    )


async def browse_group(update: Update, context: BotContext) -> None:
    """Point /topics and /source in a group to the private chat, where they do not crowd it."""
    message = update.effective_message
    if message is None:
        return
    command = message.text.split()[0].split("@")[0].lstrip("/") if message.text else "start"
    await message.reply_text(
        escape(messages.GROUP_USE_PRIVATE),
        do_quote=True,
        reply_markup=keyboards.link_keyboard(
            messages.OPEN_BOT.format(bot=messages.BOT_NAME),
            keyboards.deep_link(
                context.bot.username, command if command in ("topics", "source") else "start"
            ),
        ),
    )
