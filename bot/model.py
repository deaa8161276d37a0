"""Domain types of the answer engine: articles, entries, passages and the answers it gives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

AnswerKind = Literal["answer", "clarify", "chitchat", "none"]
EntryKind = Literal["fact", "gap", "chitchat"]


@dataclass(frozen=True)
class Article:
    """One report: its verbatim text and what is known about it."""

    slug: str
    title: str
    short_title: str
    publisher: str | None
    date: str | None
    text: str
    path: Path
    coverage_skip_lines: tuple[int, ...] = ()

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n"))


@dataclass(frozen=True)
class Passage:
    """An exact excerpt of an article, with the paragraph (line of article.txt) it stands in."""

    text: str
    article: str
    paragraph: int
    start: int


@dataclass(frozen=True)
class Entry:
    """One curated question with its short answer, supporting passages and question variants."""

    id: str
    kind: EntryKind
    question: str
    answer: str
    passages: tuple[Passage, ...]
    variants: tuple[str, ...]
    article: str | None
    topic: str | None
    related: tuple[str, ...]
    file: Path
    line: int
    draft: bool = False  # drafted by `import`, not yet curated by an admin

    @property
    def questions(self) -> tuple[str, ...]:
        """The canonical question followed by every variant."""
        return (self.question, *self.variants)


@dataclass(frozen=True)
class Answer:
    """What the engine says about one question; `kind` says which of the four outcomes it is."""

    question: str
    kind: AnswerKind
    entry: Entry | None
    score: float
    candidates: tuple[Entry, ...] = ()
    suggestions: tuple[Entry, ...] = ()
    gap: Entry | None = None

    @property
    def answered(self) -> bool:
        return self.kind == "answer"

    @property
    def passages(self) -> tuple[Passage, ...]:
        if self.kind == "answer" and self.entry is not None:
            return self.entry.passages
        return ()

    def to_json(self, request_id: Any = None) -> dict[str, Any]:
        """The `ask --json` contract, extended with `note`, `gap` and `articles`."""
        entry = self.entry if self.kind in ("answer", "chitchat") else None
        offered = self.candidates if self.kind == "clarify" else self.suggestions
        return {
            "id": request_id,
            "question": self.question,
            "kind": self.kind,
            "answered": self.answered,
            "answer": self.entry.answer if self.kind == "answer" and self.entry else None,
            "passages": [p.text for p in self.passages],
            "entry": entry.id if entry else None,
            "score": round(self.score, 4),
            "suggestions": [e.question for e in offered],
            "suggestion_ids": [e.id for e in offered],
            "note": (
                self.gap.answer
                if self.gap
                else self.entry.answer
                if self.kind == "chitchat" and self.entry
                else None
            ),
            "gap": self.gap.id if self.gap else None,
            "articles": sorted({p.article for p in self.passages}),
        }
