"""Evaluation: runs a file of held-out questions through the engine and scores the outcomes.

An item is `{q, expect: answer|none|chitchat, facts: [...], category}`. An answerable item is
right when the engine answers and every fact phrase stands in its short answer or passages;
an unanswerable or chit-chat item is right when the engine does not answer it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.match import Engine
from bot.model import Answer


@dataclass(frozen=True)
class Item:
    """One evaluation question and what a right outcome looks like."""

    question: str
    expect: str
    facts: tuple[str, ...]
    category: str


@dataclass
class Report:
    """Figures of one evaluation run, and every failure."""

    total: int = 0
    right: int = 0
    by_category: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_expect: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list[tuple[Item, Answer]] = field(default_factory=list)

    def rate(self, expect: str) -> float:
        right, total = self.by_expect.get(expect, [0, 0])
        return right / total if total else 1.0

    @property
    def answerable_accuracy(self) -> float:
        return self.rate("answer")

    @property
    def rejection(self) -> float:
        """Share of unanswerable and chit-chat questions that were not answered."""
        right = sum(self.by_expect[k][0] for k in ("none", "chitchat") if k in self.by_expect)
        total = sum(self.by_expect[k][1] for k in ("none", "chitchat") if k in self.by_expect)
        return right / total if total else 1.0


def load_items(path: Path) -> list[Item]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        Item(
            question=str(raw["q"]),
            expect=str(raw.get("expect", "answer")),
            facts=tuple(str(f) for f in raw.get("facts") or ()),
            category=str(raw.get("category", "other")),
        )
        for raw in data
    ]


def is_right(item: Item, answer: Answer) -> bool:
    if item.expect == "answer":
        if answer.kind != "answer" or answer.entry is None:
            return False
        said = answer.entry.answer + "\n" + "\n".join(p.text for p in answer.passages)
        return all(fact in said for fact in item.facts)
    if item.expect == "chitchat":
        return answer.kind == "chitchat"
    return answer.kind != "answer"


def evaluate(engine: Engine, items: list[Item]) -> Report:
    report = Report()
    for item in items:
        answer = engine.ask(item.question)
        ok = is_right(item, answer)
        report.total += 1
        report.right += ok
        for bucket in (report.by_category[item.category], report.by_expect[item.expect]):
            bucket[0] += ok
            bucket[1] += 1
        if not ok:
            report.failures.append((item, answer))
    return report


def format_report(report: Report, *, failures: bool = True) -> str:
    lines = [
        f"questions: {report.total}  right: {report.right} ({_pct(report.right, report.total)})",
        f"answerable answered correctly: {report.answerable_accuracy:.1%}",
        f"unanswerable + chit-chat not answered: {report.rejection:.1%}",
        "",
        "by expected outcome:",
    ]
    lines += [
        f"  {k:<10} {v[0]:>4}/{v[1]:<4} {_pct(*v)}" for k, v in sorted(report.by_expect.items())
    ]
    lines.append("by category:")
    lines += [
        f"  {k:<12} {v[0]:>4}/{v[1]:<4} {_pct(*v)}" for k, v in sorted(report.by_category.items())
    ]
    if failures and report.failures:
        lines.append(f"failures ({len(report.failures)}):")
        for item, answer in report.failures:
            got = answer.entry.id if answer.entry else (answer.gap.id if answer.gap else "-")
            if answer.kind == "clarify":
                got = "/".join(e.id for e in answer.candidates)
            lines.append(
                f"  [{item.category}] {item.question!r} expected {item.expect}"
                f"{' ' + '/'.join(item.facts) if item.facts else ''}; got {answer.kind} {got} "
                f"({answer.score:.2f})"
            )
    return "\n".join(lines)


def _pct(right: int, total: int) -> str:
    return f"{right / total:.1%}" if total else "-"


def as_json(report: Report) -> dict[str, Any]:
    return {
        "total": report.total,
        "right": report.right,
        "answerable_accuracy": round(report.answerable_accuracy, 4),
        "rejection": round(report.rejection, 4),
        "by_category": {k: v for k, v in report.by_category.items()},
    }
