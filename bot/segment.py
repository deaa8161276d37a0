"""Word segmentation: one jieba tokenizer, taught the knowledge's own words at load time."""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import jieba

# jieba logs its dictionary loading at DEBUG/INFO through its own logger; keep it quiet.
jieba.setLogLevel(logging.WARNING)

_LATIN = re.compile(r"[a-z0-9]+")
# jieba's own block patterns: runs it segments, and the whitespace between other characters
_HAN = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)")
_SKIP = re.compile(r"(\r\n|\s)")
_ALNUM = re.compile("[a-zA-Z0-9]")
# remembered analyses (knowledge texts, not questions): about 100 MB at the limit
MEMO_LIMIT = 500_000
_MISSING = object()
T = TypeVar("T")


class Segmenter:
    """A jieba tokenizer of our own (never the module-level default one)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._tokenizer = jieba.Tokenizer()
        self._cache = cache_dir
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._tokenizer.tmp_dir = str(cache_dir)
        self._words: set[str] = set()
        self._memo: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def cache_dir(self) -> Path | None:
        """The folder of this tokenizer's caches (and of the prebuilt index beside them)."""
        return self._cache

    def warm_up(self) -> None:
        """Load jieba's dictionary now rather than on the first question.

        jieba's own cache is a marshal file that takes as long to load as the dictionary
        takes to build (about 0.6 s); the same data pickled loads in about 0.2 s.
        """
        tokenizer = self._tokenizer
        with self._lock:
            if tokenizer.initialized:
                return
            cached = self._read_prefix_cache()
            if cached is not None:
                tokenizer.FREQ, tokenizer.total = cached
                tokenizer.initialized = True
                return
        tokenizer.initialize()
        self._write_prefix_cache(tokenizer.FREQ, tokenizer.total)

    def _prefix_cache(self) -> tuple[Path, tuple[str, int, int]] | None:
        if self._cache is None:
            return None
        source = Path(jieba.__file__).parent / "dict.txt"
        stat = source.stat()
        stamp = (jieba.__version__, stat.st_size, int(stat.st_mtime))
        return self._cache / "jieba-prefix.pickle", stamp

    def _read_prefix_cache(self) -> tuple[dict[str, int], int] | None:
        where = self._prefix_cache()
        if where is None or not where[0].exists():
            return None
        try:
            with where[0].open("rb") as stream:
                stamp, freq, total = pickle.load(stream)  # our own file, in our own cache
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            return None
        return (freq, total) if stamp == where[1] else None

    def _write_prefix_cache(self, freq: dict[str, int], total: int) -> None:
        where = self._prefix_cache()
        if where is None:
            return
        partial = where[0].with_suffix(f".{os.getpid()}.tmp")
        try:
            with partial.open("wb") as stream:
                pickle.dump((where[1], freq, total), stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, where[0])
        except OSError:
            partial.unlink(missing_ok=True)  # no cache: a slower start next time, no more

    def add_words(self, words: Iterable[str]) -> None:
        """Teach the tokenizer words that must stay whole (names, titles, terms)."""
        with self._lock:
            for word in words:
                if word and word not in self._words:
                    self._memo.clear()  # a new word may change how remembered texts split
                    # a high frequency makes jieba prefer the whole word over its parts
                    self._tokenizer.add_word(word, freq=max(2000, 1000 * len(word)))
                    self._words.add(word)

    def frequency(self, word: str) -> int:
        """How common jieba's dictionary says a word is (0 when it does not know it)."""
        return int(self._tokenizer.FREQ.get(word) or 0)

    def remembered(self, text: str, analyse: Callable[[str], T]) -> T:
        """`analyse(text)`, remembered until the dictionary changes: knowledge texts are
        segmented once, not at every reload (questions are never remembered)."""
        found = self._memo.get(text, _MISSING)
        if found is _MISSING:
            found = analyse(text)
            if len(self._memo) < MEMO_LIMIT:
                self._memo[text] = found
        return found  # type: ignore[return-value]

    def cut(self, text: str, *, keep_spaces: bool = False) -> list[str]:
        """Words of a normalised text, Latin words kept whole; spaces dropped unless asked.

        The same words as jieba's `lcut(text, HMM=False)` (a test holds them equal), worked
        out in one pass per block instead of jieba's generators and dictionaries: the answer
        engine segments every question, so this is its largest fixed cost."""
        tokenizer = self._tokenizer
        if not tokenizer.initialized:
            self.warm_up()
        words: list[str] = []
        for block in _HAN.split(text):
            if not block:
                continue
            if _HAN.match(block):
                self._cut_block(block, words)
                continue
            for part in _SKIP.split(block):
                if _SKIP.match(part):
                    words.append(part)
                else:
                    words.extend(part)
        return words if keep_spaces else [w for w in words if w.strip()]

    def _cut_block(self, block: str, words: list[str]) -> None:
        """jieba's maximum-probability path through the dictionary's words (no HMM)."""
        freq = self._tokenizer.FREQ
        logtotal = math.log(self._tokenizer.total)
        log = math.log
        n = len(block)
        # best[k]: (log probability of the best path from k to the end, end of its first word)
        best: list[tuple[float, int]] = [(0.0, 0)] * (n + 1)
        for k in range(n - 1, -1, -1):
            top: tuple[float, int] | None = None
            i = k
            frag = block[k]
            while i < n and frag in freq:
                count = freq[frag]
                if count:
                    option = (log(count) - logtotal + best[i + 1][0], i)
                    if top is None or option > top:
                        top = option
                i += 1
                frag = block[k : i + 1]
            if top is None:  # not a word: the character alone
                top = (log(freq.get(block[k]) or 1) - logtotal + best[k + 1][0], k)
            best[k] = top
        k = 0
        latin = ""
        while k < n:
            end = best[k][1] + 1
            word = block[k:end]
            if end - k == 1 and _ALNUM.match(word):
                latin += word  # single Latin letters and digits run together into one word
            else:
                if latin:
                    words.append(latin)
                    latin = ""
                words.append(word)
            k = end
        if latin:
            words.append(latin)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meeting-qa"
