"""The answer engine: matches a question against the knowledge and decides what to say.

Everything derivable from the knowledge (segmented variants, term weights, aliases, the
pinyin table for homophone typos, the inverted index) is built once in `Engine.__init__`;
`Engine.ask` only reads it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz

from bot.knowledge import Knowledge, load_knowledge
from bot.model import Answer, Entry
from bot.normalise import normalise
from bot.segment import Segmenter, default_cache_dir

# Function words and question words: they say how something is asked, not what about.
STOPWORDS = frozenset(
    """
    的 了 吗 呢 啊 吧 呀 嘛 哦 么 呐 哈 嗯 啦 喽 是 在 和 与 及 跟 同 把 被 对 给 从 向 将 就 都 也
    还 又 而 并 或 等 这 那 这个 那个 这次 那次 此次 本次 这场 那场 请问 请 问 问下 一下 下 我 我们
    你 你们 他 他们 她 它 想 想问 想知道 知道 告诉 说说 讲讲 聊聊 介绍 介绍一下 有 有没有 没有 啥
    什么 什么样 怎么 怎样 怎么样 如何 哪 哪些 哪个 哪儿 谁 多少 几 为什么 为何 咋 呗 能 可以 得 地 着
    过 个 些 里 上 中 其 之 所 以 于 具体 具体说 到底 究竟 一共 总共 分别 主要 都有 还有 呢 哪位 啥子
    the a an of at is are was were be been did do does what who whom which whose in on to for
    about this that these those by with how why when where and or it its his her their there
    any me i you tell please can could would should will shall was has have had from as
    """.split()
)

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"[0-9一二两三四五六七八九十百千万]")
QUANTITY_WORDS = ("多少", "几个", "几项", "几点", "几条", "几名", "几位", "几人", "how many", "how much")

# Decision thresholds, calibrated on tests/eval/dev.yaml (`python -m bot eval --sweep`).
ANSWER_AT = 0.62
CLARIFY_AT = 0.48
MARGIN = 0.04


@dataclass(frozen=True)
class Scored:
    """One entry and how well it fits the question."""

    entry: Entry
    score: float
    fuzzy: float
    coverage: float


@lru_cache(maxsize=65536)
def _syllable(ch: str) -> str:
    """A toneless, accent-tolerant pinyin key for one character (zh=z, ch=c, sh=s, n=l, in=ing)."""
    py = lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0]
    if py == ch:
        return ch
    py = re.sub(r"^([zcs])h", r"\1", py)
    py = re.sub(r"^n", "l", py)
    py = re.sub(r"(i|e)ng$", r"\1n", py)
    return py


def pinyin_key(text: str) -> tuple[str, ...]:
    return tuple(_syllable(ch) for ch in text)


def _is_cjk(text: str) -> bool:
    return bool(text) and all(_CJK.match(ch) for ch in text)


def _stem(word: str) -> str:
    """A crude English stem so that chaired/chair and tasks/task meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class Engine:
    """An immutable index over one knowledge base, answering questions against it."""

    def __init__(self, knowledge: Knowledge, segmenter: Segmenter) -> None:
        self.knowledge = knowledge
        self._segmenter = segmenter
        self._alias: dict[str, str] = {}
        for group in knowledge.aliases:
            canonical = normalise(group[0]).replace(" ", "")
            for name in group:
                self._alias[normalise(name).replace(" ", "")] = canonical
        segmenter.add_words(self._user_words())

        entries = knowledge.entries
        self._entries = entries
        # per entry: terms of its questions (strong) and of its answer and passages (weaker)
        self._strong: list[frozenset[str]] = []
        self._weak: list[frozenset[str]] = []
        # per entry: (compact form, its terms joined by spaces) of every question variant
        self._forms: list[tuple[tuple[str, str], ...]] = []
        self._exact: dict[str, int] = {}
        for i, entry in enumerate(entries):
            strong: set[str] = set()
            forms = []
            for text in entry.questions:
                norm = self.form(text)
                terms = self.terms(text, correct=False)
                strong.update(terms)
                forms.append((norm, " ".join(terms)))
                self._exact.setdefault(norm, i)
            weak: set[str] = set(self.terms(entry.answer, correct=False))
            for passage in entry.passages:
                weak.update(self.terms(passage.text, correct=False))
            self._strong.append(frozenset(strong))
            self._weak.append(frozenset(weak - strong))
            self._forms.append(tuple(forms))

        # inverse document frequency over entries
        df: dict[str, int] = defaultdict(int)
        for strong_terms, weak_terms in zip(self._strong, self._weak, strict=True):
            for term in strong_terms | weak_terms:
                df[term] += 1
        n = max(1, len(entries))
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._unknown_idf = math.log((n + 1) / 0.5)
        self._vocab = frozenset(df)
        # substrings of known terms, so that 督查 meets 督查室 and 重点工作 meets 工作
        self._parts: dict[str, set[str]] = defaultdict(set)
        for term in self._vocab:
            if _is_cjk(term) and len(term) >= 3:
                for size in range(2, len(term)):
                    for start in range(len(term) - size + 1):
                        self._parts[term[start : start + size]].add(term)
        # homophone table: pinyin of every known CJK term of 2 to 6 characters
        self._homophones: dict[tuple[str, ...], str] = {}
        for term in sorted(self._vocab | set(self._alias), key=lambda t: (-df.get(t, 0), t)):
            if _is_cjk(term) and 2 <= len(term) <= 6:
                self._homophones.setdefault(pinyin_key(term), term)
        self._postings: dict[str, list[int]] = defaultdict(list)
        for i, (strong_terms, weak_terms) in enumerate(zip(self._strong, self._weak, strict=True)):
            for term in strong_terms | weak_terms:
                self._postings[term].append(i)

    # ----- text to terms -------------------------------------------------------------------

    def _user_words(self) -> set[str]:
        """Names, titles and quoted terms that jieba must keep whole."""
        words = set(self._alias)
        for article in self.knowledge.articles.values():
            for quoted in re.findall(r"“([^”]{2,12})”", article.text):
                words.update(part for part in re.split(r"[、,]", quoted) if 2 <= len(part) <= 8)
        for group in self.knowledge.aliases:
            words.update(normalise(name).replace(" ", "") for name in group)
        return {w for w in words if len(w) >= 2}

    def form(self, text: str) -> str:
        """The compact normalised form a question is indexed under."""
        return self._compact(normalise(text))

    @staticmethod
    def _compact(norm: str) -> str:
        return re.sub(r"(?<=[^a-z0-9]) | (?=[^a-z0-9])", "", norm)

    def correct(self, text: str) -> str:
        """Replace homophone typos of known terms (王建 -> 王健, 做风 -> 作风)."""
        if not self._homophones:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            replaced = False
            if _CJK.match(text[i]):
                for size in range(min(6, n - i), 1, -1):
                    window = text[i : i + size]
                    if not _is_cjk(window):
                        continue
                    if window in self._vocab or window in self._alias:
                        out.append(window)
                        i += size
                        replaced = True
                        break
                    term = self._homophones.get(pinyin_key(window))
                    if term is not None:
                        same = sum(a == b for a, b in zip(window, term, strict=True))
                        if same >= 1 and size - same <= max(1, size // 2):
                            out.append(term)
                            i += size
                            replaced = True
                            break
            if not replaced:
                out.append(text[i])
                i += 1
        return "".join(out)

    def terms(self, text: str, *, correct: bool = True, normalised: bool = False) -> list[str]:
        """Content terms of a text: segmented, aliases resolved, function words dropped."""
        norm = text if normalised else normalise(text)
        compacted = self._compact(norm)
        if correct:
            compacted = self.correct(compacted)
        out = []
        for word in self._segmenter.cut(compacted):
            word = word.strip()
            if not word or word in STOPWORDS:
                continue
            if _LATIN_WORD.fullmatch(word):
                word = _stem(word)
            out.append(self._alias.get(word, word))
        return out

    # ----- scoring ---------------------------------------------------------------------------

    def _weight(self, term: str) -> float:
        idf = self._idf.get(term)
        if idf is None:
            idf = self._unknown_idf if term not in self._parts else self._unknown_idf * 0.5
        return idf * (0.5 if len(term) == 1 else 1.0)

    def rank(self, text: str, *, exclude: str | None = None) -> list[Scored]:
        """Every entry that shares anything with the question, best first."""
        norm = normalise(text)
        query = self.correct(self._compact(norm))
        if not query:
            return []
        terms = self.terms(query, correct=False, normalised=True)
        unique = list(dict.fromkeys(terms))
        weights = {t: self._weight(t) for t in unique}
        total = sum(weights.values())
        candidates: set[int] = set()
        for term in unique:
            candidates.update(self._postings.get(term, ()))
            for whole in self._parts.get(term, ()):
                candidates.update(self._postings.get(whole, ()))
        if exclude is None and query in self._exact:
            candidates.add(self._exact[query])
        quantity = any(word in norm for word in QUANTITY_WORDS)
        joined = " ".join(terms)
        scored = []
        for i in candidates:
            entry = self._entries[i]
            strong, weak = self._strong[i], self._weak[i]
            got = 0.0
            for term, weight in weights.items():
                if term in strong:
                    got += weight
                elif term in weak:
                    got += 0.75 * weight
                elif any(whole in strong or whole in weak for whole in self._parts.get(term, ())):
                    got += 0.5 * weight
            coverage = got / total if total else 0.0
            best = 0.0
            for form, vterms in self._forms[i]:
                if form != exclude:
                    best = max(best, fuzz.ratio(query, form), 0.9 * fuzz.token_sort_ratio(joined, vterms))
            fuzzy = best / 100.0
            score = 0.45 * fuzzy + 0.55 * coverage
            if exclude is None and self._exact.get(query) == i:
                score = max(score, 1.0)
            if quantity and entry.kind == "fact" and not _DIGITS.search(entry.answer):
                score *= 0.8
            scored.append(Scored(entry, score, fuzzy, coverage))
        scored.sort(key=lambda s: (-s.score, s.entry.id))
        return scored

    # ----- decision --------------------------------------------------------------------------

    def ask(self, text: str, *, exclude: str | None = None) -> Answer:
        """Answer one question: `answer`, `clarify`, `chitchat` or `none`."""
        ranked = self.rank(text, exclude=exclude)
        if not ranked or ranked[0].score < CLARIFY_AT:
            return Answer(text, "none", None, ranked[0].score if ranked else 0.0,
                          suggestions=self._suggest(ranked))
        top = ranked[0]
        rivals = [s for s in ranked[1:] if s.entry.kind == "fact"]
        close = [s for s in rivals if top.score - s.score < MARGIN]
        if top.score >= ANSWER_AT and (not close or top.entry.kind != "fact"):
            if top.entry.kind == "chitchat":
                return Answer(text, "chitchat", top.entry, top.score,
                              suggestions=self._suggest(ranked))
            if top.entry.kind == "gap":
                return Answer(text, "none", None, top.score, suggestions=self._suggest(ranked),
                              gap=top.entry)
            return Answer(text, "answer", top.entry, top.score,
                          suggestions=self._related(top.entry))
        options = [top, *close][:3] if top.score >= ANSWER_AT else [top, *rivals][:3]
        options = [s for s in options if s.entry.kind == "fact" and s.score >= CLARIFY_AT]
        if not options:
            return Answer(text, "none", None, top.score, suggestions=self._suggest(ranked))
        return Answer(text, "clarify", None, top.score,
                      candidates=tuple(s.entry for s in options))

    def _related(self, entry: Entry) -> tuple[Entry, ...]:
        by_id = self.knowledge.by_id
        return tuple(by_id[r] for r in entry.related if r in by_id)[:3]

    def _suggest(self, ranked: list[Scored]) -> tuple[Entry, ...]:
        """A few questions the report does answer: the nearest ones, else the first ones."""
        near = [s.entry for s in ranked if s.entry.kind == "fact" and s.score >= 0.25][:3]
        if len(near) < 3:
            near += [e for e in self.knowledge.facts if e not in near][: 3 - len(near)]
        return tuple(near)


def build_engine(root: Path, segmenter: Segmenter | None = None) -> Engine:
    """Load, validate and index the knowledge folder (raises KnowledgeError on any error)."""
    segmenter = segmenter or Segmenter(default_cache_dir())
    return Engine(load_knowledge(root), segmenter)
