"""Turning an Answer into text for a reader: plain text for the terminal, HTML for Telegram."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from bot import messages
from bot.knowledge import Knowledge
from bot.model import Answer, Article, Entry, Passage


def source_line(knowledge: Knowledge, passages: tuple[Passage, ...]) -> str:
    """ "出处：<title>，第N段" for the passages of one answer (several articles possible)."""
    parts = []
    for slug in dict.fromkeys(p.article for p in passages):
        article = knowledge.articles.get(slug)
        title = article.short_title if article else slug
        paras = "、".join(
            str(n) for n in sorted({p.paragraph for p in passages if p.article == slug})
        )
        parts.append(f"《{title}》第{paras}段")
    return f"{messages.SOURCE}：" + "；".join(parts)


def _numbered(entries: tuple[Entry, ...]) -> list[str]:
    """Numbered lines: in the terminal chat, typing the number asks that question."""
    return [f"  {n}. {e.question}" for n, e in enumerate(entries, 1)]


def render_text(answer: Answer, knowledge: Knowledge) -> str:
    """A readable plain-text reply, as the terminal chat and `ask` print it."""
    if answer.kind == "answer" and answer.entry is not None:
        lines = [answer.entry.answer, ""]
        lines += [f"  「{p.text}」" for p in answer.passages]
        lines += ["", source_line(knowledge, answer.passages)]
        if answer.suggestions:
            lines += ["", messages.RELATED, *_numbered(answer.suggestions)]
        return "\n".join(lines)
    if answer.kind == "chitchat" and answer.entry is not None:
        return answer.entry.answer
    if answer.kind == "clarify":
        lines = [messages.CLARIFY]
        lines += [f"  {i}. {e.question}" for i, e in enumerate(answer.candidates, 1)]
        return "\n".join(lines)
    lines = [answer.gap.answer if answer.gap else messages.NONE, "", messages.NONE_TRY]
    lines += _numbered(answer.suggestions)
    return "\n".join(lines)


# ----- Telegram HTML ---------------------------------------------------------------------------
# Everything below returns Telegram HTML: every piece of text from the knowledge or from a user
# goes through `escape`, and no message is longer than Telegram's 4096 characters.

TELEGRAM_LIMIT = 4096
# passages longer than this many characters are quoted collapsed (<blockquote expandable>)
EXPANDABLE_AT = 100
_BREAK = re.compile(r"[^。！？；!?;\n]*[。！？；!?;\n]+|[^。！？；!?;\n]+")


def escape(text: str) -> str:
    """Text made safe for Telegram's HTML parse mode."""
    return html.escape(text, quote=True)


def telegram_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Block:
    """One paragraph of a message: plain text, optionally wrapped in one HTML element."""

    text: str
    tag: str = ""  # "b", "i", "blockquote", "blockquote expandable", ... or "" for none
    raw: bool = False  # text is already HTML (our own templates), not to be escaped again

    def html(self, text: str | None = None) -> str:
        body = text if text is not None else self.text
        body = body if self.raw else escape(body)
        if not self.tag:
            return body
        return f"<{self.tag}>{body}</{self.tag.split()[0]}>"


def pack(blocks: list[Block], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join blocks into as few messages as fit `limit`, breaking only between blocks (and
    inside a block only when it alone is too long: at sentence ends, else anywhere)."""
    messages_out: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(block, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if telegram_len(candidate) <= limit:
                current = candidate
            else:
                messages_out.append(current)
                current = piece
    if current:
        messages_out.append(current)
    return messages_out


def _fit(block: Block, limit: int) -> list[str]:
    """The block as HTML, cut into pieces that each fit `limit`."""
    whole = block.html()
    if telegram_len(whole) <= limit or block.raw:
        return [whole]
    pieces: list[str] = []
    current = ""
    for unit in _BREAK.findall(block.text):
        for part in _hard_cut(block, unit, limit):
            if telegram_len(block.html(current + part)) <= limit:
                current += part
            else:
                pieces.append(block.html(current))
                current = part
    if current:
        pieces.append(block.html(current))
    return pieces


def _hard_cut(block: Block, text: str, limit: int) -> list[str]:
    """A sentence longer than a whole message, cut where it must be (never inside a pair)."""
    if telegram_len(block.html(text)) <= limit:
        return [text]
    out, current = [], ""
    for ch in text:
        if telegram_len(block.html(current + ch)) > limit:
            out.append(current)
            current = ""
        current += ch
    return [*out, current] if current else out


def quote(text: str) -> Block:
    """A passage as a quotation, collapsed when long."""
    tag = "blockquote expandable" if len(text) > EXPANDABLE_AT else "blockquote"
    return Block(text, tag)


def answer_blocks(
    entry: Entry, knowledge: Knowledge, *, passages: int | None = None
) -> list[Block]:
    """The short answer in bold, its passages quoted, then where they come from."""
    shown = entry.passages if passages is None else entry.passages[:passages]
    blocks = [Block(entry.answer, "b"), *(quote(p.text) for p in shown)]
    if shown:
        blocks.append(Block(source_line(knowledge, shown), "i"))
    return blocks


def render_answer_html(entry: Entry, knowledge: Knowledge) -> list[str]:
    """The full answer, as one message or (for very long passages) several."""
    return pack(answer_blocks(entry, knowledge))


def render_compact_html(entry: Entry, knowledge: Knowledge) -> str:
    """The answer in one message: short answer, its first passage and the source."""
    blocks = answer_blocks(entry, knowledge, passages=1)
    packed = pack(blocks)
    if len(packed) == 1:
        return packed[0]
    # a passage longer than a message: shorten it, the full answer is a button away
    head, *middle, source = blocks
    text = middle[0].text if middle else ""
    while text:
        shortened = [head.html(), quote(text.rstrip() + "…").html(), source.html()]
        if telegram_len("\n\n".join(shortened)) <= TELEGRAM_LIMIT:
            return "\n\n".join(shortened)
        text = text[: len(text) * 9 // 10]
    return packed[0]


def render_clarify_html() -> str:
    """The lead of a clarifying question (the candidates follow as buttons)."""
    return escape(messages.CLARIFY)


def render_none_html(answer: Answer) -> str:
    """What the report does not say: a gap's own explanation, else the plain "not covered"."""
    lead = answer.gap.answer if answer.gap is not None else messages.NONE
    blocks = [Block(lead)]
    if answer.suggestions:
        blocks.append(Block(messages.NONE_TRY))
    return pack(blocks)[0]


def render_chitchat_html(entry: Entry, *, examples: bool) -> str:
    """A chit-chat reply, inviting example questions when buttons for them follow."""
    blocks = [Block(entry.answer)]
    if examples:
        blocks.append(Block(messages.CHITCHAT_TRY))
    return pack(blocks)[0]


def articles_phrase(knowledge: Knowledge) -> str:
    """《title》 (or 《a》《b》 for several reports), escaped, for the welcome and help texts."""
    titles = [a.short_title for a in knowledge.articles.values()]
    return escape("".join(f"《{t}》" for t in titles) or messages.THIS_REPORT)


def render_source_html(knowledge: Knowledge) -> str:
    """Title, publisher, date and size of every report the knowledge is drawn from."""
    parts = [messages.SOURCE_HEADER]
    for article in knowledge.articles.values():
        chars = sum(1 for ch in article.text if not ch.isspace())
        paragraphs = sum(1 for p in article.paragraphs if p.strip())
        lines = [
            messages.SOURCE_TITLE.format(title=f"<b>{escape(article.title)}</b>"),
            messages.SOURCE_PUBLISHER.format(
                publisher=escape(article.publisher or messages.SOURCE_NO_PUBLISHER)
            ),
            messages.SOURCE_DATE.format(date=escape(article.date or messages.SOURCE_NO_DATE)),
            messages.SOURCE_SIZE.format(paragraphs=paragraphs, chars=chars),
        ]
        parts.append("\n".join(lines))
    return pack([Block(p, raw=True) for p in parts])[0]


def render_article_html(article: Article) -> list[str]:
    """The full report, its paragraphs numbered as the sources cite them, in messages that fit."""
    blocks = [Block(article.title, "b")]
    for number, paragraph in enumerate(article.paragraphs, 1):
        if paragraph.strip():
            blocks.append(
                Block(messages.NUMBERED_PARAGRAPH.format(n=number, text=paragraph.strip()))
            )
    return pack(blocks)
