"""Private chats: any text is a question; the reply is the full answer with its buttons."""

from __future__ import annotations

from telegram import Message, Update

from bot import messages
from bot.catalog import Catalog
from bot.handlers import keyboards
from bot.handlers.context import BotContext
from bot.model import Answer, Entry
from bot.normalise import normalise
from bot.render import (
    escape,
    render_answer_html,
    render_chitchat_html,
    render_clarify_html,
    render_none_html,
)


async def on_text(update: Update, context: BotContext) -> None:
    """Answer a private text message as a question."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    if message.via_bot is not None and message.via_bot.id == context.bot.id:
        return  # one of our own inline answers, sent here: not a question
    await answer_question(context, message.chat_id, message.text)


async def on_media(update: Update, context: BotContext) -> None:
    """Tell the sender of a sticker, photo, voice or file that questions are read as text."""
    message = update.effective_message
    if message is None:
        return
    await send_examples(context, message.chat_id, messages.MEDIA_ONLY_TEXT)


async def answer_question(context: BotContext, chat_id: int, question: str) -> None:
    """Ask the engine and send whichever of its four outcomes it gives."""
    engine = context.services.engine
    catalog = context.services.catalog(engine)
    if not normalise(question):
        # nothing left once emoji, punctuation and invisible characters are gone
        await send_examples(context, chat_id, messages.EMPTY_QUESTION)
        return
    answer = engine.ask(question)
    await send_answer(context, chat_id, answer, catalog)
    # a private chat's id is its user's id; logged after the reply, so as not to delay it
    await context.services.record_answer(answer, chat_type="private", user_id=chat_id)


async def send_answer(context: BotContext, chat_id: int, answer: Answer, catalog: Catalog) -> None:
    bot = context.bot
    if answer.kind == "answer" and answer.entry is not None:
        await send_entry(context, chat_id, answer.entry, catalog)
    elif answer.kind == "clarify":
        await bot.send_message(
            chat_id,
            render_clarify_html(),
            reply_markup=keyboards.questions_keyboard(answer.candidates, none_of_these=True),
        )
    elif answer.kind == "chitchat" and answer.entry is not None:
        examples = catalog.examples
        await bot.send_message(
            chat_id,
            render_chitchat_html(answer.entry, examples=bool(examples)),
            reply_markup=keyboards.questions_keyboard(examples) if examples else None,
        )
    else:
        await bot.send_message(
            chat_id,
            render_none_html(answer),
            reply_markup=keyboards.not_covered_keyboard(catalog, answer.suggestions),
        )


async def send_entry(context: BotContext, chat_id: int, entry: Entry, catalog: Catalog) -> None:
    """The full answer of one entry: bold answer, quoted passages, source, then its buttons."""
    parts = render_answer_html(entry, catalog.knowledge)
    for part in parts[:-1]:
        await context.bot.send_message(chat_id, part)
    await context.bot.send_message(
        chat_id, parts[-1], reply_markup=keyboards.answer_keyboard(entry, catalog.related(entry))
    )


async def send_examples(context: BotContext, chat_id: int, lead: str) -> Message:
    """A short note followed by example questions as buttons."""
    examples = context.services.catalog(context.services.engine).examples
    return await context.bot.send_message(
        chat_id,
        escape(lead),
        reply_markup=keyboards.questions_keyboard(examples, browse=True) if examples else None,
    )
