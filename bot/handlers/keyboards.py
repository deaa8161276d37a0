"""Inline keyboards and the callback data their buttons carry.

Callback data are short prefixed ids, never question text (Telegram allows 64 bytes):

    q:<entry-id>            answer this entry
    fb:<entry-id>:up|down   feedback on an answer
    nq                      "none of these" under a clarifying question
    tl:<page>               the topic list, page n (0-based)
    t:<topic>:<page>        the questions of topic n, page n
    a:<article>             the full text of article n
    ut:<group>:<entry-id>   (admins) add unanswered question group n as a variant of the entry
    ui:<group>              (admins) ignore unanswered question group n
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import messages
from bot.catalog import Catalog, Page, paginate
from bot.knowledge import Knowledge
from bot.model import Entry

MAX_CALLBACK_BYTES = 64
TOPICS_PER_PAGE = 8
QUESTIONS_PER_PAGE = 6
# a deep-link payload is 1-64 characters of A-Z, a-z, 0-9, _ and -
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# ----- callback data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """Answer the entry `entry_id`."""

    entry_id: str


@dataclass(frozen=True)
class Feedback:
    """A 👍 or 👎 on the answer of `entry_id`."""

    entry_id: str
    vote: Literal["up", "down"]


@dataclass(frozen=True)
class NoneOfThese:
    """None of the questions offered to clarify is the one meant."""


@dataclass(frozen=True)
class TopicList:
    """Show page `page` of the topic list."""

    page: int


@dataclass(frozen=True)
class TopicQuestions:
    """Show page `page` of the questions of topic number `topic`."""

    topic: int
    page: int


@dataclass(frozen=True)
class FullText:
    """Send the full text of article number `article`."""

    article: int


@dataclass(frozen=True)
class TeachVariant:
    """Add the question of /unanswered group `group` as a variant of `entry_id` (admins)."""

    group: int
    entry_id: str


@dataclass(frozen=True)
class IgnoreQuestion:
    """Leave the question of /unanswered group `group` out of /unanswered (admins)."""

    group: int


Action = (
    Ask
    | Feedback
    | NoneOfThese
    | TopicList
    | TopicQuestions
    | FullText
    | TeachVariant
    | IgnoreQuestion
)

_ID = r"([a-z0-9][a-z0-9-]{0,23})"
_NUM = r"(0|[1-9][0-9]{0,3})"
_GROUP = r"([1-9][0-9]{0,8})"
_PATTERNS: tuple[tuple[re.Pattern[str], type], ...] = (
    (re.compile(rf"^q:{_ID}$"), Ask),
    (re.compile(rf"^fb:{_ID}:(up|down)$"), Feedback),
    (re.compile(r"^nq$"), NoneOfThese),
    (re.compile(rf"^tl:{_NUM}$"), TopicList),
    (re.compile(rf"^t:{_NUM}:{_NUM}$"), TopicQuestions),
    (re.compile(rf"^a:{_NUM}$"), FullText),
    (re.compile(rf"^ut:{_GROUP}:{_ID}$"), TeachVariant),
    (re.compile(rf"^ui:{_GROUP}$"), IgnoreQuestion),
)


def parse(data: str | None) -> Action | None:
    """The action a button asks for, or None for data we never sent (forged or from a game)."""
    if not data:
        return None
    for pattern, kind in _PATTERNS:
        found = pattern.match(data)
        if found:
            args = [int(g) if g.isdigit() else g for g in found.groups()]
            action: Action = kind(*args)
            return action
    return None


def _button(text: str, data: str) -> InlineKeyboardButton:
    # a guard, not a check: every format above stays far below the limit
    assert len(data.encode()) <= MAX_CALLBACK_BYTES, data
    return InlineKeyboardButton(text, callback_data=data)


def ask_button(entry: Entry) -> InlineKeyboardButton:
    return _button(entry.question, f"q:{entry.id}")


# ----- keyboards -------------------------------------------------------------------------------


def answer_keyboard(entry: Entry, related: tuple[Entry, ...]) -> InlineKeyboardMarkup:
    """Related questions, one a row, then 👍 / 👎."""
    rows = [[ask_button(e)] for e in related]
    rows.append(feedback_row(entry))
    return InlineKeyboardMarkup(rows)


def feedback_row(entry: Entry) -> list[InlineKeyboardButton]:
    return [
        _button(messages.FEEDBACK_UP, f"fb:{entry.id}:up"),
        _button(messages.FEEDBACK_DOWN, f"fb:{entry.id}:down"),
    ]


def without_feedback(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """The same keyboard with its feedback row removed (None if nothing else is left)."""
    if markup is None:
        return None
    rows = [
        list(row)
        for row in markup.inline_keyboard
        if not any(
            isinstance(b.callback_data, str) and b.callback_data.startswith("fb:") for b in row
        )
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def has_data(markup: InlineKeyboardMarkup | None, prefix: str) -> bool:
    """Whether a message's keyboard still carries a button whose data start with `prefix`."""
    if markup is None:
        return False
    return any(
        isinstance(b.callback_data, str) and b.callback_data.startswith(prefix)
        for row in markup.inline_keyboard
        for b in row
    )


def questions_keyboard(
    entries: tuple[Entry, ...], *, none_of_these: bool = False, browse: bool = False
) -> InlineKeyboardMarkup:
    """One button per question; optionally "都不是" and "按话题浏览" below them."""
    rows = [[ask_button(e)] for e in entries]
    if none_of_these:
        rows.append([_button(messages.CLARIFY_NONE_OF_THESE, "nq")])
    if browse:
        rows.append([_button(messages.BROWSE_TOPICS, "tl:0")])
    return InlineKeyboardMarkup(rows)


def not_covered_keyboard(catalog: Catalog, suggestions: tuple[Entry, ...]) -> InlineKeyboardMarkup:
    """Questions the report does answer, the topics they belong to, and the way to all topics."""
    rows = [[ask_button(e)] for e in suggestions]
    topics = [
        _button(messages.TOPIC_BUTTON.format(topic=catalog.topics[i].name), f"t:{i}:0")
        for i in catalog.topics_of(suggestions)
    ]
    if topics:
        rows.append(topics)
    rows.append([_button(messages.ALL_TOPICS, "tl:0")])
    return InlineKeyboardMarkup(rows)


def topics_keyboard(catalog: Catalog, page: Page) -> InlineKeyboardMarkup:
    """A page of topics, two a row, and the arrows to the other pages."""
    first = page.number * TOPICS_PER_PAGE
    buttons = [
        _button(
            messages.TOPIC_COUNT.format(topic=topic.name, n=len(topic.entries)), f"t:{first + i}:0"
        )
        for i, topic in enumerate(catalog.topics[first : first + len(page.items)])
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows += _arrows(page, lambda n: f"tl:{n}")
    return InlineKeyboardMarkup(rows)


def topic_keyboard(topic_index: int, entries_page: Page) -> InlineKeyboardMarkup:
    """A page of one topic's questions, the arrows, and the way back to the topic list."""
    rows = [[ask_button(e)] for e in entries_page.items if isinstance(e, Entry)]
    rows += _arrows(entries_page, lambda n: f"t:{topic_index}:{n}")
    rows.append([_button(messages.BACK_TO_TOPICS, f"tl:{topic_index // TOPICS_PER_PAGE}")])
    return InlineKeyboardMarkup(rows)


def topics_page(catalog: Catalog, number: int) -> Page | None:
    return paginate(tuple(catalog.topics), number, TOPICS_PER_PAGE)


def topic_page(catalog: Catalog, topic: int, number: int) -> Page | None:
    if not 0 <= topic < len(catalog.topics):
        return None
    return paginate(catalog.topics[topic].entries, number, QUESTIONS_PER_PAGE)


def _arrows(page: Page, data: Callable[[int], str]) -> list[list[InlineKeyboardButton]]:
    row = []
    if page.has_previous:
        row.append(_button(messages.PREVIOUS, data(page.number - 1)))
    if page.has_next:
        row.append(_button(messages.NEXT, data(page.number + 1)))
    return [row] if row else []


def source_keyboard(knowledge: Knowledge) -> InlineKeyboardMarkup:
    """One "read the full text" button per article."""
    articles = list(knowledge.articles.values())
    if len(articles) == 1:
        return InlineKeyboardMarkup([[_button(messages.READ_FULL_TEXT, "a:0")]])
    return InlineKeyboardMarkup(
        [
            [_button(messages.READ_FULL_TEXT_OF.format(title=a.short_title), f"a:{i}")]
            for i, a in enumerate(articles)
        ]
    )


def unanswered_keyboard(group: int, closest: tuple[Entry, ...]) -> InlineKeyboardMarkup:
    """(Admins) one "add as a variant of <entry>" button per close entry, then "ignore"."""
    rows = [
        [
            _button(
                messages.TEACH_BUTTON.format(question=_short(e.question)),
                f"ut:{group}:{e.id}",
            )
        ]
        for e in closest
    ]
    rows.append([_button(messages.IGNORE_BUTTON, f"ui:{group}")])
    return InlineKeyboardMarkup(rows)


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----- deep links ------------------------------------------------------------------------------


def deep_link(username: str, payload: str) -> str:
    """https://t.me/<bot>?start=<payload>: opens the private chat and sends /start <payload>."""
    assert _PAYLOAD.match(payload), payload
    return f"https://t.me/{username}?start={payload}"


def entry_payload(entry: Entry) -> str:
    return f"q_{entry.id}"


def entry_from_payload(payload: str) -> str | None:
    """The entry id of a `q_<entry-id>` payload, else None."""
    return payload[2:] if payload.startswith("q_") and len(payload) > 2 else None


def link_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, url=url)]])
