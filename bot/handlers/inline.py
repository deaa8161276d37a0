"""Inline mode: `@bot <question>` offers up to ten answers to post into any chat."""

from __future__ import annotations

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode

from bot import messages
from bot.catalog import Catalog
from bot.handlers import keyboards
from bot.handlers.context import BotContext
from bot.match import Engine
from bot.model import Answer, Entry
from bot.normalise import normalise
from bot.render import escape, render_answer_html, render_compact_html

MAX_RESULTS = 10
CACHE_SECONDS = 60
# ranked questions below this score are not offered as inline results
OFFER_AT = 0.35
DESCRIPTION_CHARS = 120


async def on_query(update: Update, context: BotContext) -> None:
    """Offer the answers that fit the query; example questions when it is empty."""
    query = update.inline_query
    if query is None:
        return
    engine = context.services.engine
    catalog = context.services.catalog(engine)
    answer: Answer | None = None
    if normalise(query.query):
        answer = engine.ask(query.query)
        entries = _matches(engine, answer)
        label = messages.INLINE_ASK_PRIVATELY if entries else messages.INLINE_NOTHING_FOUND
    else:
        entries = list(catalog.showcase)
        label = messages.INLINE_ASK_PRIVATELY
    results = [_result(entry, catalog, context.bot.username) for entry in entries[:MAX_RESULTS]]
    await query.answer(
        results,
        cache_time=CACHE_SECONDS,
        is_personal=False,
        button=InlineQueryResultsButton(text=label, start_parameter="inline"),
    )
    if answer is not None:
        # Telegram sends a query per pause in typing: the log holds drafts too
        await context.services.record_answer(answer, chat_type="inline", user_id=query.from_user.id)


def _matches(engine: Engine, answer: Answer) -> list[Entry]:
    """The engine's answer first (or its gap, or its candidates), then nearby questions."""
    found: list[Entry] = []
    if answer.kind == "answer" and answer.entry is not None:
        found.append(answer.entry)
    if answer.gap is not None:
        found.append(answer.gap)
    found += answer.candidates
    for scored in engine.rank(answer.question):
        if len(found) >= MAX_RESULTS or scored.score < OFFER_AT:
            break
        if scored.entry.kind == "fact" and scored.entry not in found:
            found.append(scored.entry)
    return found


def _result(entry: Entry, catalog: Catalog, username: str) -> InlineQueryResultArticle:
    """One result: the question as title, the short answer below it, the answer as message."""
    if entry.kind == "gap":
        text = escape(entry.answer)
        markup = None
    else:
        parts = render_answer_html(entry, catalog.knowledge)
        text = parts[0] if len(parts) == 1 else render_compact_html(entry, catalog.knowledge)
        markup = keyboards.link_keyboard(
            messages.INLINE_OPEN.format(bot=messages.BOT_NAME),
            keyboards.deep_link(username, keyboards.entry_payload(entry)),
        )
    description = entry.answer
    if len(description) > DESCRIPTION_CHARS:
        description = description[: DESCRIPTION_CHARS - 1] + "…"
    return InlineQueryResultArticle(
        id=entry.id,
        title=entry.question,
        description=description,
        input_message_content=InputTextMessageContent(
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        reply_markup=markup,
    )
