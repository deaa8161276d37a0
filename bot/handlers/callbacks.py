"""Button presses: answer a question, take feedback, browse topics, send the full text.

Every callback query is answered exactly once, before any other request; data we never
sent (forged, or stale after a reload) get a short note instead of an action.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType

from bot import messages
from bot.handlers import commands, group, keyboards, private
from bot.handlers.context import BotContext
from bot.handlers.keyboards import Ask, Feedback, FullText, TopicList, TopicQuestions
from bot.render import escape, render_article_html
from bot.store import StoreError

log = logging.getLogger(__name__)


def _accessible(query: CallbackQuery) -> Message | None:
    """The message under the button, if the bot can still edit or reply to it."""
    message = query.message
    # messages older than 48 hours arrive with date 0 and can be neither edited nor quoted
    return message if isinstance(message, Message) and message.is_accessible else None


async def on_ask(update: Update, context: BotContext) -> None:
    """Answer the question on the button (related, clarify choice, suggestion, topic list)."""
    query = update.callback_query
    if query is None:
        return
    action = keyboards.parse(query.data)
    catalog = context.services.catalog(context.services.engine)
    entry = catalog.fact(action.entry_id) if isinstance(action, Ask) else None
    if query.message is None or not isinstance(action, Ask):
        await query.answer(messages.BUTTON_EXPIRED)
        return
    if entry is None:
        await query.answer(messages.ENTRY_GONE)
        return
    await query.answer()
    message = _accessible(query)
    chat = query.message.chat
    if chat.type == ChatType.PRIVATE or message is None:
        await private.send_entry(context, chat.id, entry, catalog)
    else:
        await group.send_answer(context, message, entry, catalog, asker=query.from_user)


async def on_feedback(update: Update, context: BotContext) -> None:
    """Record a 👍 / 👎 and take the feedback buttons off the answer."""
    query = update.callback_query
    if query is None:
        return
    action = keyboards.parse(query.data)
    catalog = context.services.catalog(context.services.engine)
    if not isinstance(action, Feedback) or catalog.fact(action.entry_id) is None:
        await query.answer(messages.BUTTON_EXPIRED)
        return
    thanks = messages.FEEDBACK_THANKS if action.vote == "up" else messages.FEEDBACK_DOWN_THANKS
    await query.answer(thanks)
    try:
        await context.services.store.record_feedback(
            user_id=query.from_user.id, entry=action.entry_id, up=action.vote == "up"
        )
    except StoreError:
        log.exception("could not record feedback on %s", action.entry_id)
    message = _accessible(query)
    # only if the buttons are still there: editing to the same keyboard is an error
    if message is not None and keyboards.has_data(message.reply_markup, "fb:"):
        await query.edit_message_reply_markup(keyboards.without_feedback(message.reply_markup))


async def on_none_of_these(update: Update, context: BotContext) -> None:
    """Turn the clarifying question into a hint to rephrase, with ways to browse."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    message = _accessible(query)
    if message is None or not keyboards.has_data(message.reply_markup, "nq"):
        return
    examples = context.services.catalog(context.services.engine).examples
    await query.edit_message_text(
        escape(messages.NONE_OF_THESE),
        reply_markup=keyboards.questions_keyboard(examples[:3], browse=True),
    )


async def on_topics(update: Update, context: BotContext) -> None:
    """Page through the topics and their questions, editing the list in place."""
    query = update.callback_query
    if query is None:
        return
    action = keyboards.parse(query.data)
    catalog = context.services.catalog(context.services.engine)
    text: str | None = None
    markup: InlineKeyboardMarkup | None = None
    if isinstance(action, TopicList):
        page = keyboards.topics_page(catalog, action.page)
        if page is not None and catalog.topics:
            text = commands.topics_text(page.number, page.count)
            markup = keyboards.topics_keyboard(catalog, page)
    elif isinstance(action, TopicQuestions):
        page = keyboards.topic_page(catalog, action.topic, action.page)
        if page is not None:
            text = messages.TOPIC.format(
                topic=escape(catalog.topics[action.topic].name),
                page=page.number + 1,
                pages=page.count,
            )
            markup = keyboards.topic_keyboard(action.topic, page)
    if text is None or markup is None or query.message is None:
        await query.answer(messages.BUTTON_EXPIRED)
        return
    await query.answer()
    message = _accessible(query)
    if message is None:
        await context.bot.send_message(query.message.chat.id, text, reply_markup=markup)
    elif message.reply_markup != markup:
        # the same keyboard means the same page: Telegram refuses an edit that changes nothing
        await query.edit_message_text(text, reply_markup=markup)


async def on_full_text(update: Update, context: BotContext) -> None:
    """Send the full text of a report, split into messages that fit."""
    query = update.callback_query
    if query is None:
        return
    action = keyboards.parse(query.data)
    articles = list(context.services.engine.knowledge.articles.values())
    if query.message is None or not isinstance(action, FullText):
        await query.answer(messages.BUTTON_EXPIRED)
        return
    if not 0 <= action.article < len(articles):
        await query.answer(messages.ARTICLE_GONE)
        return
    await query.answer(messages.FULL_TEXT_SENDING)
    for part in render_article_html(articles[action.article]):
        await context.bot.send_message(query.message.chat.id, part)


async def on_unknown(update: Update, context: BotContext) -> None:
    """Answer a button press whose data this bot never sent."""
    query = update.callback_query
    if query is None:
        return
    log.info("unknown callback data %r", query.data)
    await query.answer(messages.BUTTON_EXPIRED)
