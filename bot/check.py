"""The knowledge check: loader errors, plus what only the engine can tell (routing, coverage)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.knowledge import Knowledge, Problem, scan_knowledge
from bot.match import Engine
from bot.normalise import compact
from bot.segment import Segmenter

_SENTENCE = re.compile(r"[^。!?！？;；]+[。!?！？;；]?")
# a sentence counts as covered when passages span at least this share of its characters
COVERED_SHARE = 0.5


def check(root: Path, segmenter: Segmenter) -> tuple[Knowledge | None, list[Problem]]:
    """Every problem in the knowledge folder; errors make the knowledge unusable."""
    knowledge, problems = scan_knowledge(root)
    if knowledge is None:
        return None, problems
    engine = Engine(knowledge, segmenter)
    problems += routing_problems(engine)
    problems += coverage_problems(knowledge)
    problems += layout_problems(knowledge)
    return knowledge, problems


def layout_problems(knowledge: Knowledge) -> list[Problem]:
    """Q&A files that /teach could not edit one line at a time (warnings)."""
    from bot.teach import layout_problem

    files = dict.fromkeys(entry.file for entry in knowledge.entries)
    return [found for path in files if (found := layout_problem(path)) is not None]


def routing_problems(engine: Engine) -> list[Problem]:
    """Variants the engine answers with another entry (errors), and variants it would answer
    with another entry were they not listed (warnings: they are easily confused)."""
    out = []
    for entry in engine.knowledge.entries:
        for text in entry.variants:
            got = engine.ask(text)
            if got.kind == "answer" and got.entry is not None and got.entry.id != entry.id:
                out.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"variant {text!r} is answered by entry {got.entry.id}",
                        entry.id,
                    )
                )
                continue
            alone = engine.ask(text, exclude=engine.form(text))
            if alone.kind == "answer" and alone.entry is not None and alone.entry.id != entry.id:
                out.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"variant {text!r} is close to entry {alone.entry.id}",
                        entry.id,
                        severity="warning",
                    )
                )
    return out


def coverage_problems(knowledge: Knowledge) -> list[Problem]:
    """Sentences of each article that no passage covers (warnings)."""
    out = []
    for article in knowledge.articles.values():
        covered = bytearray(len(article.text))
        for entry in knowledge.entries:
            for passage in entry.passages:
                if passage.article == article.slug:
                    covered[passage.start : passage.start + len(passage.text)] = b"\x01" * len(
                        passage.text
                    )
        offset = 0
        for number, line in enumerate(article.text.split("\n"), 1):
            if number not in article.coverage_skip_lines:
                for match in _SENTENCE.finditer(line):
                    sentence = match.group().strip()
                    if len(compact(sentence)) < 4:
                        continue
                    start, end = offset + match.start(), offset + match.end()
                    share = sum(covered[start:end]) / max(1, end - start)
                    if share < COVERED_SHARE:
                        out.append(
                            Problem(
                                article.path,
                                number,
                                f"no entry covers the sentence {sentence[:40]!r}"
                                + ("…" if len(sentence) > 40 else ""),
                                severity="warning",
                            )
                        )
            offset += len(line) + 1
    return out
