"""The knowledge currently serving, and its reload: build and validate off to the side, then swap.

A reload that fails leaves the previous engine serving and returns the problems found.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bot.check import coverage_problems
from bot.knowledge import Problem, scan_knowledge
from bot.match import Engine
from bot.segment import Segmenter


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: whether it swapped, what changed, and every problem found."""

    ok: bool
    problems: tuple[Problem, ...]
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    uncovered: int = 0

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


class Library:
    """Owns the serving Engine; readers take `library.engine` once per question."""

    def __init__(self, root: Path, segmenter: Segmenter) -> None:
        self.root = root
        self.segmenter = segmenter
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("knowledge not loaded yet: call reload() first")
        return self._engine

    def reload(self) -> ReloadResult:
        """Build a new engine from the files; swap it in only if the files have no error."""
        with self._lock:
            knowledge, problems = scan_knowledge(self.root)
            if knowledge is None:
                return ReloadResult(False, tuple(problems))
            engine = Engine(knowledge, self.segmenter)
            uncovered = coverage_problems(knowledge)
            old = {e.id: e for e in self._engine.knowledge.entries} if self._engine else {}
            new = {e.id: e for e in knowledge.entries}
            result = ReloadResult(
                True,
                tuple(problems),
                added=tuple(sorted(new.keys() - old.keys())) if old else (),
                changed=tuple(
                    sorted(
                        k for k in new.keys() & old.keys() if _content(new[k]) != _content(old[k])
                    )
                ),
                removed=tuple(sorted(old.keys() - new.keys())),
                uncovered=len(uncovered),
            )
            self._engine = engine  # one assignment: questions in flight keep the old engine
            return result


def _content(entry: object) -> tuple[object, ...]:
    from bot.model import Entry

    assert isinstance(entry, Entry)
    return (entry.kind, entry.question, entry.answer, entry.passages, entry.variants, entry.related)
