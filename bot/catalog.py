"""What the knowledge offers to browse: topics in order, example questions, nearby questions.

Derived once per serving engine (never per question) and free of anything Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages
from bot.match import Engine
from bot.model import Entry

EXAMPLES = 4
SHOWCASE = 10
RELATED = 3
# a question counts as "nearby" another one above this engine score
NEARBY_AT = 0.25


@dataclass(frozen=True)
class Topic:
    """A topic and its answer entries, in the order the knowledge files list them."""

    name: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Page:
    """One page of a longer list: its items, its 0-based number and how many pages there are."""

    items: tuple[object, ...]
    number: int
    count: int

    @property
    def has_previous(self) -> bool:
        return self.number > 0

    @property
    def has_next(self) -> bool:
        return self.number + 1 < self.count


def paginate(items: tuple[object, ...], number: int, size: int) -> Page | None:
    """Page `number` of `items`, or None when there is no such page."""
    count = max(1, -(-len(items) // size))
    if not 0 <= number < count:
        return None
    return Page(items[number * size : (number + 1) * size], number, count)


class Catalog:
    """Topics, examples and neighbours of one engine's knowledge."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.knowledge = engine.knowledge
        groups: dict[str, list[Entry]] = {}
        # qa.yaml holds an article's main questions; qa-*.yaml files continue it
        facts = sorted(self.knowledge.facts, key=lambda e: e.file.name != "qa.yaml")
        for entry in facts:
            groups.setdefault(entry.topic or messages.OTHER_TOPIC, []).append(entry)
        named = [Topic(n, tuple(es)) for n, es in groups.items() if n != messages.OTHER_TOPIC]
        other = groups.get(messages.OTHER_TOPIC)
        self.topics: tuple[Topic, ...] = (
            *named,
            *([Topic(messages.OTHER_TOPIC, tuple(other))] if other else []),
        )
        self._topic_of = {e.id: i for i, t in enumerate(self.topics) for e in t.entries}
        self.examples: tuple[Entry, ...] = _examples(self.topics)
        # the examples first, then every other question in topic order (an empty inline query)
        rest = [e for t in self.topics for e in t.entries if e not in self.examples]
        self.showcase: tuple[Entry, ...] = (*self.examples, *rest)[:SHOWCASE]
        self._nearby: dict[str, tuple[Entry, ...]] = {}

    def fact(self, entry_id: str) -> Entry | None:
        """The answer entry with this id, or None (unknown, or a gap or chit-chat entry)."""
        entry = self.knowledge.by_id.get(entry_id)
        return entry if entry is not None and entry.kind == "fact" else None

    def topics_of(self, entries: tuple[Entry, ...], count: int = 2) -> tuple[int, ...]:
        """Numbers of the topics `entries` belong to (else the first topics), at most `count`."""
        found = dict.fromkeys(self._topic_of[e.id] for e in entries if e.id in self._topic_of)
        found.update(dict.fromkeys(range(len(self.topics))))
        return tuple(found)[:count]

    def related(self, entry: Entry) -> tuple[Entry, ...]:
        """Two or three follow-up questions: the curated `related` ones, else the nearest."""
        by_id = self.knowledge.by_id
        chosen = [by_id[r] for r in entry.related if r in by_id and by_id[r].kind == "fact"]
        if len(chosen) < 2:
            chosen += [e for e in self._near(entry) if e not in chosen]
        return tuple(chosen[:RELATED])

    def _near(self, entry: Entry) -> tuple[Entry, ...]:
        # memoised: the first request for an entry ranks its question once
        if entry.id not in self._nearby:
            ranked = self.engine.rank(entry.question)
            self._nearby[entry.id] = tuple(
                s.entry
                for s in ranked
                if s.entry.kind == "fact" and s.entry.id != entry.id and s.score >= NEARBY_AT
            )[:RELATED]
        return self._nearby[entry.id]


def _examples(topics: tuple[Topic, ...]) -> tuple[Entry, ...]:
    """The shortest question of each topic in turn (the plainest, and short on a button),
    so that the examples show the range of the report."""
    by_length = [sorted(t.entries, key=lambda e: len(e.question)) for t in topics]
    out: list[Entry] = []
    depth = 0
    while len(out) < EXAMPLES and any(depth < len(entries) for entries in by_length):
        for entries in by_length:
            if depth < len(entries) and len(out) < EXAMPLES:
                out.append(entries[depth])
        depth += 1
    return tuple(out)
