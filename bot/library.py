"""The knowledge currently serving, and its reload: build and validate off to the side, then swap.

A reload that fails leaves the previous engine serving and returns the problems found.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bot.check import coverage_problems
from bot.index import fingerprint, load_engine, save_engine
from bot.knowledge import KnowledgeError, Problem, scan_knowledge
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

    def __init__(self, root: Path, segmenter: Segmenter, index_dir: Path | None = None) -> None:
        self.root = root
        self.segmenter = segmenter
        # where the prebuilt index lives (bot/index.py): the first load reads it when the
        # files have not changed since it was written, and every good build writes it
        self.index_dir = index_dir
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
            engine = self._prebuilt() if self._engine is None else None
            if engine is None:
                key = fingerprint(self.root) if self.index_dir is not None else None
                scanned, problems = scan_knowledge(self.root)
                if scanned is None:
                    return ReloadResult(False, tuple(problems))
                engine = Engine(scanned, self.segmenter)
                # saved only if the files did not change while they were read
                if self.index_dir is not None and key == fingerprint(self.root):
                    save_engine(engine, self.index_dir, key)
            else:
                problems = list(engine.knowledge.warnings)
            knowledge = engine.knowledge
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

    def _prebuilt(self) -> Engine | None:
        """The engine from the prebuilt index, if there is one for exactly these files."""
        if self.index_dir is None:
            return None
        try:
            engine, _ = load_engine(self.root, self.segmenter, self.index_dir)
        except KnowledgeError:
            return None  # the caller scans the files again and reports every problem
        return engine


def _content(entry: object) -> tuple[object, ...]:
    from bot.model import Entry

    assert isinstance(entry, Entry)
    return (entry.kind, entry.question, entry.answer, entry.passages, entry.variants, entry.related)
