"""Turning an Answer into text for a reader: plain text for the terminal."""

from __future__ import annotations

from bot import messages
from bot.knowledge import Knowledge
from bot.model import Answer, Passage


def source_line(knowledge: Knowledge, passages: tuple[Passage, ...]) -> str:
    """"出处：<title>，第N段" for the passages of one answer (several articles possible)."""
    parts = []
    for slug in dict.fromkeys(p.article for p in passages):
        article = knowledge.articles.get(slug)
        title = article.short_title if article else slug
        paras = "、".join(str(n) for n in sorted({p.paragraph for p in passages if p.article == slug}))
        parts.append(f"《{title}》第{paras}段")
    return f"{messages.SOURCE}：" + "；".join(parts)


def render_text(answer: Answer, knowledge: Knowledge) -> str:
    """A readable plain-text reply, as the terminal chat and `ask` print it."""
    if answer.kind == "answer" and answer.entry is not None:
        lines = [answer.entry.answer, ""]
        lines += [f"  「{p.text}」" for p in answer.passages]
        lines += ["", source_line(knowledge, answer.passages)]
        if answer.suggestions:
            lines += ["", messages.RELATED] + [f"  · {e.question}" for e in answer.suggestions]
        return "\n".join(lines)
    if answer.kind == "chitchat" and answer.entry is not None:
        return answer.entry.answer
    if answer.kind == "clarify":
        lines = [messages.CLARIFY]
        lines += [f"  {i}. {e.question}" for i, e in enumerate(answer.candidates, 1)]
        return "\n".join(lines)
    lines = [answer.gap.answer if answer.gap else messages.NONE, "", messages.NONE_TRY]
    lines += [f"  · {e.question}" for e in answer.suggestions]
    return "\n".join(lines)
