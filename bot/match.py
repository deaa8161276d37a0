"""The answer engine: matches a question against the knowledge and decides what to say.

Everything derivable from the knowledge (segmented variants, term weights, aliases, the
pinyin table for homophone typos, the inverted index) is built once in `Engine.__init__`;
`Engine.ask` only reads it.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

# pypinyin loads a 55 MB phrase dictionary on import unless told not to; the engine only
# reads single characters, whose readings do not need it
os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
from pypinyin import Style, lazy_pinyin

from bot.knowledge import Knowledge, load_knowledge
from bot.model import Answer, Entry
from bot.normalise import compact, normalise
from bot.segment import Segmenter, default_cache_dir
from bot.synonyms import synonyms_of

# Function words and question words: they say how something is asked, not what about.
STOPWORDS = frozenset(
    """
    的 了 吗 呢 啊 吧 呀 嘛 哦 么 呐 哈 嗯 啦 喽 是 在 和 与 及 跟 同 把 被 对 给 从 向 将 就 都
    也 还 又 而 并 或 等 这 那 这个 那个 这次 那次 此次 本次 这场 那场 请问 请 问 问下 一下 下 我
    我们 你 你们 他 他们 她 它 想 想问 想知道 知道 告诉 说说 讲讲 聊聊 介绍 介绍一下 有 有没有
    没有 啥 什么 什么样 怎么 怎样 怎么样 哪天 那天 当天 那时 如何 哪 哪些 哪个 哪儿 谁 多少 几
    为什么 为何 咋 呗 能 可以 得 地 着 过 个 些 里 上 中 其 之 所 以 于 具体 具体说 到底 究竟 一共
    总共 分别 主要 都有 还有 呢 哪位 啥子 由谁来 哪一位 干什么 干嘛 为啥 咋样 怎么回事 啥时候
    the a an of at is are was were be been did do does what
    who whom which whose in on to for about this that these those by with how why when where and
    or it its his her their there any me i you tell please can could would should will shall was
    has have had from as
    """.split()
)

_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_ONLY = re.compile(r"[\u3400-\u9fff]+")
_LATIN_WORD = re.compile(r"[a-z]+")
# Words that frame a question (its manner, not its subject): they count for little.
FRAME_WORDS = frozenset(
    """
    要求 情况 内容 方面 态度 表现 做法 方式 方法 办法 应该 需要 提出 表示 提到 指出 强调 说 讲
    讲话 会上 会议上 大会上 具体 哪方面 什么样 程度 怎么办 做 干 搞 是不是 是否 能不能 会不会 算
    属于 意思 含义 包括 包含 哪几 几个 几项 情形 问题 事 事情 东西 内容是 说法 提 问 回答 答案
    哪里 啥样 名字 姓名 叫 称呼 名称 mean meaning say said talk talked mention mentioned ask asked
    """.split()
)

# Kinds of question that need a kind of fact: (markers in the question, evidence in the entry).
_NUMERAL = "[0-9一二两三四五六七八九十百千万]"
INTENTS = {
    "quantity": (
        (
            "多少|几个|几项|几点|几条|几名|几位|几人|几种|几次|几支|几座|几处|人数|比例|how many"
        ).split("|"),
        re.compile(rf"[0-9]|{_NUMERAL}+(?:项|个|点|条|名|位|人|天|周|年|月|次|大|方面|套|类|种)"),
    ),
    "money": (
        "钱|资金|经费|预算|金额|花了多少|投入多少|how much money|cost|budget".split("|"),
        re.compile(r"[0-9.]+(?:万|亿)?元|资金|经费"),
    ),
    "date": (
        "几月几号|几月几日|几号|几月|哪天|哪一天|日期|哪年|哪一年|date".split("|"),
        re.compile(rf"{_NUMERAL}+(?:月|日|号)|昨天|今天|前天"),
    ),
    "time": (
        "什么时候|何时|多久|多长时间|几天|完工|结束|截止|期限|when".split("|"),
        re.compile(
            rf"昨天|上午|下午|一周|周内|短时间|时间|{_NUMERAL}+(?:天|日|月|年|周)|年年|长期"
        ),
    ),
    # asking what something is or contains: every fact entry can say what it says
    "define": (
        (
            "意思|含义|指什么|指的是|指啥|是什么|是啥|具体|哪些|哪几|包括|内容|解释|"
            "mean|what is|what are|what does"
        ).split("|"),
        re.compile(r"."),
    ),
    "place": (
        "在哪|哪里|哪儿|地点|地址|在什么地方|where|venue".split("|"),
        re.compile(r"室|主席台|一线|实地|园区|乡镇|街道|地方"),
    ),
}
# each intent's markers as one pattern
_ASKS = {k: re.compile("|".join(map(re.escape, markers))) for k, (markers, _) in INTENTS.items()}
# "how many X": the X counted, so that an entry must give a number of that very thing
_COUNTED = re.compile(
    r"(?:多少|几)(?:个|项|名|位|条|点|种|次|件|支|座|处|家)?([\u4e00-\u9fff]{2})"
    r"|(?:多少|几个?)(人)|(人)数"
)
INTENT_PENALTY = 0.75
CHITCHAT_COVERAGE = 0.75
# how many entries, best covering the question first, get the fuzzy comparison (every
# entry's coverage is worked out, in one pass over the postings)
SHORTLIST = 6
# with several articles more entries compete for a question (each report has its own chair,
# its own deadline), so more of them get the fuzzy comparison
SHORTLIST_SEVERAL = 8
# a "none" reply suggests near entries from this score up, else the report's first questions
SUGGEST_AT = 0.4
# jieba words at least this frequent are real words, never taken for typos
LOOSE_BELOW = 100
# tokens remembered as loose or not, at most
MEMO_LIMIT = 100_000


@dataclass(frozen=True)
class Tuning:
    """Weights and thresholds, calibrated on tests/eval/dev.yaml (never on the held-out set)."""

    answer_at: float = 0.55  # answer when the best entry scores this much ...
    sure_at: float = 0.85  # ... and a rival is further than `margin` below, unless this sure
    clarify_at: float = 0.45  # below `answer_at` but above this: offer "did you mean"
    margin: float = 0.02
    fuzzy_weight: float = 0.5  # the rest of the score is term coverage
    unknown_factor: float = 1.1  # weight of a word the knowledge never uses, x the rarest idf
    frame_factor: float = 0.5  # weight of words that frame a question (要求, 情况, 态度)
    weak_credit: float = 0.85  # a term found only in the answer or passages, not the variants
    partial_credit: float = 0.4  # a term whose character pairs stand in the entry
    synonym_credit: float = 0.6  # a term the knowledge lacks, whose synonym the entry has
    lone_at: float = 0.5  # answer from here when no other entry comes within `lead`
    lead: float = 0.15


class Scored(NamedTuple):
    """One entry and how well it fits the question (a tuple: made for every candidate of
    every question)."""

    entry: Entry
    score: float
    fuzzy: float
    coverage: float


@dataclass(frozen=True)
class _View:
    """A question's terms as seen by one article's aliases."""

    weights: dict[str, float]
    total: float
    joined: str


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


@lru_cache(maxsize=1 << 17)
def pinyin_key(text: str) -> tuple[str, ...]:
    return tuple(_syllable(ch) for ch in text)


# where one clause of a chat message ends and another begins
_CLAUSE = re.compile(r"([?？!！。;；\n]+|[,，]\s*)")
_ASKING = re.compile(
    r"谁|什么|啥|哪|几|多少|怎|如何|为何|为什么|吗|么|呢|是否|有没有|能否"
    r"|\b(?:what|who|when|where|which|how|why)\b"
)
_QUOTED = re.compile(r"“[^”]*”|「[^」]*」|\"[^\"]*\"")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]{2,}")


def _pairs(text: str) -> list[str]:
    """Adjacent CJK character pairs of a text."""
    return [run[k : k + 2] for run in _CJK_RUN.findall(text) for k in range(len(run) - 1)]


def _sorted_words(text: str) -> str:
    return " ".join(sorted(text.split()))


class _Postings:
    """Which entries hold each key, all in one int array (a slice per key): a large
    knowledge has a hundred thousand keys, and an array each would cost 100 bytes apiece."""

    def __init__(self, postings: dict[str, array[int]]) -> None:
        # filled in entry order, so each key's entries are sorted and distinct
        self._slot = {sys.intern(key): k for k, key in enumerate(postings)}
        ids = array("i")
        bounds = [0]
        for held in postings.values():
            ids.extend(held)
            bounds.append(len(ids))
        self._ids = np.frombuffer(ids, dtype=np.int32) if ids else np.zeros(0, dtype=np.int32)
        self._bounds = bounds

    def __contains__(self, key: str) -> bool:
        return key in self._slot

    def __iter__(self) -> Iterator[str]:
        return iter(self._slot)

    def __len__(self) -> int:
        return len(self._slot)

    def get(self, key: str) -> np.ndarray | None:
        slot = self._slot.get(key)
        if slot is None:
            return None
        return self._ids[self._bounds[slot] : self._bounds[slot + 1]]

    def __getitem__(self, key: str) -> np.ndarray:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found


# every character pair any knowledge text of this process has had -> its number (numbers
# are never reused, so a text's pairs are remembered as numbers across reloads)
_PAIR_NUMBERS: dict[str, int] = {}
_PAIR_LOCK = threading.Lock()
_NONE = np.zeros(0, dtype=np.int32)


def _pair_numbers(pairs: list[str]) -> bytes:
    """A text's character pairs as the bytes of their int32 numbers (a fifth of the memory
    of a tuple of strings, remembered for every knowledge text)."""
    numbers = _PAIR_NUMBERS
    with _PAIR_LOCK:
        found = {numbers.setdefault(pair, len(numbers)) for pair in pairs}
    return array("i", sorted(found)).tobytes()


class _PairPostings:
    """Which entries have each character pair, from each entry's pair numbers: one sort of
    every (pair, entry) instead of a Python append for each."""

    def __init__(self, entry_pairs: list[np.ndarray]) -> None:
        # the numbering as it stands: an engine loaded from disk brings its own
        self._numbers = _PAIR_NUMBERS.copy() if entry_pairs else {}
        pairs = np.concatenate(entry_pairs) if entry_pairs else _NONE
        owners = np.repeat(
            np.arange(len(entry_pairs), dtype=np.int32), [len(p) for p in entry_pairs]
        )
        order = np.argsort(pairs, kind="stable")  # stable: each pair's entries stay in order
        self._ids = owners[order]
        counts = np.bincount(pairs, minlength=len(self._numbers))
        self._bounds = np.concatenate(([0], np.cumsum(counts))).tolist()

    def get(self, pair: str) -> np.ndarray | None:
        number = self._numbers.get(pair)
        if number is None:
            return None
        start, end = self._bounds[number], self._bounds[number + 1]
        return self._ids[start:end] if end > start else None


def _intents(norm: str) -> frozenset[str]:
    return frozenset(k for k, asks in _ASKS.items() if asks.search(norm))


def _is_cjk(text: str) -> bool:
    return _CJK_ONLY.fullmatch(text) is not None


def _stem(word: str) -> str:
    """A crude English stem so that chaired/chair and tasks/task meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class Engine:
    """An immutable index over one knowledge base, answering questions against it."""

    def __init__(
        self, knowledge: Knowledge, segmenter: Segmenter, tuning: Tuning | None = None
    ) -> None:
        self.knowledge = knowledge
        self.tuning = tuning or Tuning()
        self._segmenter = segmenter
        # aliases hold within their own article: name -> canonical name, per article slug
        self._aliases: dict[str | None, dict[str, str]] = {None: {}}
        for slug, groups in knowledge.article_aliases.items():
            mapping = self._aliases.setdefault(slug, {})
            for group in groups:
                canonical = normalise(group[0]).replace(" ", "")
                for name in group:
                    mapping[normalise(name).replace(" ", "")] = canonical
        self._alias_names = frozenset(name for m in self._aliases.values() for name in m)
        # the articles in which a word is an alias of another name
        owners: dict[str, list[str | None]] = defaultdict(list)
        for owner, names in self._aliases.items():
            for name, canonical in names.items():
                if name != canonical:
                    owners[name].append(owner)
        self._alias_owners = dict(owners)
        # names, titles and terms jieba must keep whole (taught again when loaded from disk)
        self._words = frozenset(self._user_words())
        segmenter.add_words(self._words)
        # anything that stands in an article is a real word there, never a typo
        self._article_text = "\n".join(a.text for a in knowledge.articles.values())

        entries = knowledge.entries
        self._entries = entries
        # per entry: the compact form of every question variant, and its content words sorted
        self._form_texts: list[list[str]] = []
        self._form_words: list[list[str]] = []
        self._exact: dict[str, int] = {}
        # postings, filled entry by entry (compact int arrays, so that a large knowledge never
        # holds a set per entry): which entries hold each term in their questions (strong) or
        # only in their answer and passages (weak), and every character pair of their texts,
        # so that 违纪 meets 违反纪律; a question's words are resolved to an article's names
        # before they are looked up
        strong_post: dict[str, array[int]] = defaultdict(lambda: array("i"))
        weak_post: dict[str, array[int]] = defaultdict(lambda: array("i"))
        entry_pairs: list[np.ndarray] = []  # each entry's character pairs, by number
        # every term each article's entries use, to tell which article a question is about
        self._article_vocab: dict[str | None, set[str]] = defaultdict(set)
        for i, entry in enumerate(entries):
            aliases = self._aliases.get(entry.article, self._aliases[None])
            strong: set[str] = set()
            forms = []
            seen_pairs: list[bytes] = []
            for text in entry.questions:
                form, plain, pairs = self._analyse(text)
                variant = [aliases.get(t, t) for t in plain]
                strong.update(variant)
                # content words pre-sorted: token_sort_ratio is then a plain ratio
                forms.append((form, " ".join(sorted(variant))))
                seen_pairs.append(pairs)
                self._exact.setdefault(form, i)
            weak: set[str] = set()
            sources = [p.text for p in entry.passages]
            if entry.kind != "chitchat":  # a small-talk reply's examples are not its subject
                sources.append(entry.answer)
            for text in sources:
                _, plain, pairs = self._analyse(text)
                weak.update(aliases.get(t, t) for t in plain)
                seen_pairs.append(pairs)
            if entry.kind == "chitchat":
                seen_pairs.append(self._analyse(entry.answer)[2])
            weak -= strong
            for term in strong:
                strong_post[term].append(i)
            for term in weak:
                weak_post[term].append(i)
            held = np.frombuffer(b"".join(seen_pairs), dtype=np.int32)
            entry_pairs.append(np.unique(held) if len(held) else _NONE)
            self._article_vocab[entry.article] |= strong | weak
            self._form_texts.append([text for text, _ in forms])
            self._form_words.append([words for _, words in forms])

        # inverse document frequency over entries
        df = {
            term: len(strong_post.get(term, ())) + len(weak_post.get(term, ()))
            for term in strong_post.keys() | weak_post.keys()
        }
        n = max(1, len(entries))
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._unknown_idf = math.log((n + 1) / 0.5)
        self._vocab = frozenset(df)
        self._max_idf = max(self._idf.values(), default=1.0)
        # words the knowledge never uses -> the knowledge's words of the same meaning, worked
        # out when a question first uses them
        self._synonym_memo: dict[str, tuple[str, ...]] = {}
        self._strong_post = _Postings(strong_post)
        self._weak_post = _Postings(weak_post)
        self._pair_postings = _PairPostings(entry_pairs)
        del strong_post, weak_post, entry_pairs
        # which kinds of fact (quantity, time, place) each entry can give, and asks for
        self._gives: list[frozenset[str]] = []
        self._asks: list[frozenset[str]] = []
        self._said: list[str] = []
        shared: dict[frozenset[str], frozenset[str]] = {}  # a few distinct sets, shared
        for entry in entries:
            said = entry.answer + "".join(p.text for p in entry.passages)
            self._said.append(said)
            gives = frozenset(k for k, (_, evidence) in INTENTS.items() if evidence.search(said))
            self._gives.append(shared.setdefault(gives, gives))
            asks = _intents(normalise(entry.question))
            self._asks.append(shared.setdefault(asks, asks))
        # homophone table: pinyin of every known CJK term of 2 to 6 characters
        self._homophones: dict[tuple[str, ...], str] = {}
        for term in sorted(self._vocab | self._alias_names, key=lambda t: (-df.get(t, 0), t)):
            if _is_cjk(term) and 2 <= len(term) <= 6:
                self._homophones.setdefault(pinyin_key(term), term)
        self._fallback = tuple(e for e in entries if e.kind == "fact")[:3]
        self._articles: list[str | None] = sorted(
            {e.article for e in entries}, key=lambda a: (a is not None, a or "")
        )
        self._number = {slug: k for k, slug in enumerate(self._articles)}
        self._entry_article = np.array([self._number[e.article] for e in entries], dtype=np.int32)
        self._members = {
            slug: np.flatnonzero(self._entry_article == k) for slug, k in self._number.items()
        }
        # with one article (and the small talk) no article can lack what another knows
        self._several = sum(slug is not None for slug in self._articles) > 1
        # a memo of a pure function of a token, so that a question pays for each word once
        self._loose_memo: dict[str, bool] = {}

    # ----- on disk (bot/index.py) ---------------------------------------------------------

    def __getstate__(self) -> dict[str, object]:
        """Everything but the tokenizer (shared, taught again on load) and the memos."""
        state = dict(self.__dict__)
        for name in ("_segmenter", "_loose_memo", "_synonym_memo"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._loose_memo = {}
        self._synonym_memo = {}

    def attach(self, segmenter: Segmenter) -> Engine:
        """Give an engine loaded from disk the tokenizer, taught this knowledge's words."""
        segmenter.add_words(self._words)
        self._segmenter = segmenter
        return self

    # ----- text to terms -------------------------------------------------------------------

    def _user_words(self) -> set[str]:
        """Names, titles and quoted terms that jieba must keep whole."""
        words = set(self._alias_names)
        for article in self.knowledge.articles.values():
            for quoted in re.findall(r"“([^”]{2,12})”", article.text):
                words.update(part for part in re.split(r"[、,]", quoted) if 2 <= len(part) <= 8)
            # items of enumerations (张菲菲、徐祝成、…; 群众、网络、媒体) are names and terms
            for clause in re.split(r"[,;:。!?“”()]", article.text):
                if "、" in clause:
                    words.update(p for p in clause.split("、")[1:-1] if 2 <= len(p) <= 4)
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
        """The text with typos of known terms mended (see `_correct`)."""
        return self._correct(text)[0]

    def _correct(self, text: str) -> tuple[str, list[str] | None]:
        """Replace homophone typos of known terms (王建 -> 王健, 做风 -> 作风).

        Only runs of loose tokens (single characters, or words neither the knowledge nor
        jieba's dictionary knows well) are compared, whole tokens at a time, so that a real
        word next to a typo (始终, 督查时) is never cut in two.
        """
        tokens = self._segmenter.cut(text, keep_spaces=True)
        if not self._homophones:
            return text, tokens
        changed = False
        out: list[str] = []
        loose = [self._loose(token) for token in tokens]
        k = 0
        while k < len(tokens):
            span = 0
            while k + span < len(tokens) and span < 4 and loose[k + span]:
                span += 1
            for m in range(span, 0, -1):
                window = "".join(tokens[k : k + m])
                term = self._homophone(window)
                if term is not None:
                    out.append(term)
                    k += m
                    changed = True
                    break
            else:
                # once a run, at its start: the whole words on either side may belong to it
                starts = span > 0 and (k == 0 or not loose[k - 1])
                whole = self._idiom(tokens, k, span) if starts else None
                if whole is not None:
                    start, end, term = whole
                    del out[len(out) - (k - start) :]
                    out.append(term)
                    k = end
                    changed = True
                    continue
                out.append(tokens[k])
                k += 1
        # the tokens still hold when nothing changed; otherwise the text is segmented anew
        return "".join(out), None if changed else tokens

    def _idiom(self, tokens: list[str], k: int, span: int) -> tuple[int, int, str] | None:
        """A known term of four or more characters that a run of loose tokens and the whole
        words on either side of it spell with one character mistyped (虎头舌尾 -> 虎头蛇尾):
        the tokens it spans and the term. Shorter ones are left alone (督查时 is no typo of
        督查室)."""
        for before in (1, 0):
            for after in (1, 0):
                start, end = k - before, k + span + after
                if start < 0 or end > len(tokens) or not (before or after):
                    continue
                window = "".join(tokens[start:end])
                if len(window) < 4 or not _is_cjk(window):
                    continue
                term = self._homophone(window)
                if term is not None and sum(a != b for a, b in zip(window, term, strict=True)) == 1:
                    return start, end, term
        return None

    def _loose(self, token: str) -> bool:
        """Whether a token may be a typo: a single character, or a word neither the knowledge
        nor jieba's dictionary knows well (remembered per token)."""
        loose = self._loose_memo.get(token)
        if loose is None:
            if len(self._loose_memo) >= MEMO_LIMIT:
                self._loose_memo.clear()
            loose = self._loose_memo[token] = self._is_loose(token)
        return loose

    def _is_loose(self, token: str) -> bool:
        if not _is_cjk(token):
            return False
        if token in STOPWORDS:
            return False  # 是, 的, 吗: function words are not typos of content words
        if len(token) == 1:
            return True
        known = token in self._vocab or token in self._alias_names
        return not known and self._segmenter.frequency(token) < LOOSE_BELOW

    def _homophone(self, window: str) -> str | None:
        if not 2 <= len(window) <= 6 or window in self._vocab:
            return None
        term = self._homophones.get(pinyin_key(window))
        if term is None or term == window or window in self._article_text:
            return None
        same = sum(a == b for a, b in zip(window, term, strict=True))
        return term if same >= 1 and len(window) - same <= max(1, len(window) // 2) else None

    def _analyse(self, text: str) -> tuple[str, tuple[str, ...], bytes]:
        """A knowledge text's compact form, its content words before aliases and its
        character pairs (remembered by the segmenter, so that a reload analyses only the
        texts that changed)."""
        return self._segmenter.remembered(text, self._analyse_anew)

    def _analyse_anew(self, text: str) -> tuple[str, tuple[str, ...], bytes]:
        form = compact(text)
        words = tuple(map(sys.intern, self._plain(self._segmenter.cut(form))))
        return form, words, _pair_numbers(_pairs(form))

    @staticmethod
    def _plain(words: Iterable[str]) -> list[str]:
        out = []
        for word in words:
            word = word.strip()
            if not word or word in STOPWORDS:
                continue
            out.append(_stem(word) if _LATIN_WORD.fullmatch(word) else word)
        return out

    def terms(
        self,
        text: str,
        *,
        correct: bool = True,
        normalised: bool = False,
        article: str | None = None,
    ) -> list[str]:
        """Content terms of a text: segmented, the article's aliases resolved, function
        words dropped."""
        norm = text if normalised else normalise(text)
        compacted = self._compact(norm)
        if correct:
            compacted = self.correct(compacted)
        aliases = self._aliases.get(article, self._aliases[None])
        return [aliases.get(w, w) for w in self._plain(self._segmenter.cut(compacted))]

    # ----- scoring ---------------------------------------------------------------------------

    def _weight(self, term: str) -> float:
        if term in FRAME_WORDS:
            return self.tuning.frame_factor * self._idf.get(term, self._max_idf)
        idf = self._idf.get(term)
        if idf is None:
            idf = self.tuning.unknown_factor * self._max_idf
        return idf * (0.5 if len(term) == 1 else 1.0)

    def _fuzzy(
        self, shortlist: list[int], query: str, joined: dict[int, str], exclude: str | None
    ) -> list[float]:
        """Best similarity (0-100) of the question to each shortlisted entry's variants:
        characters as written, and content words in any order (x 0.9), in one C pass each
        for all the entries that see the question's words alike (one article's aliases)."""
        similarity: dict[int, float] = {}
        groups: dict[str, list[int]] = defaultdict(list)
        for i in shortlist:
            groups[joined[i]].append(i)
        for text, members in groups.items():
            forms: list[str] = []
            words: list[str] = []
            starts = []
            for i in members:
                starts.append(len(forms))
                forms += self._form_texts[i]
                words += self._form_words[i]
            best = process.cdist([query], forms, scorer=fuzz.ratio)[0]
            order = process.cdist([_sorted_words(text)], words, scorer=fuzz.ratio)[0]
            np.maximum(best, 0.9 * order, out=best)
            if exclude is not None:
                best[np.array([form == exclude for form in forms])] = 0.0
            similarity.update(zip(members, np.maximum.reduceat(best, starts).tolist(), strict=True))
        return [similarity[i] for i in shortlist]

    def _counts(self, counted: str | None, i: int) -> bool:
        """Whether entry i gives a number of the thing a "how many" question counts (an
        entry that does not name the thing, or names it without a number, does not)."""
        said = self._said[i]
        if counted is None:
            return True
        if counted == "人":  # people are counted as 11位, 860人, 3名
            return re.search(rf"{_NUMERAL}+(?:位|名|人)", said) is not None
        # 10项重点工作 or 救生衣3000件: the number stands just before or just after the thing
        near = rf"{_NUMERAL}+[^,，。、;；]{{0,3}}{counted}|{counted}[^,，。、;；]{{0,3}}{_NUMERAL}"
        return re.search(near, said) is not None

    def _synonym_hits(self, term: str, weight: float) -> list[tuple[np.ndarray, float]]:
        """Entries holding a word of the same meaning as `term` (each entry once)."""
        synonyms = self._synonym_memo.get(term)
        if synonyms is None:
            if len(self._synonym_memo) >= MEMO_LIMIT:
                self._synonym_memo.clear()
            synonyms = self._synonym_memo[term] = synonyms_of(term, self._vocab)
        if not synonyms:
            return []
        tuning = self.tuning
        strong = [self._strong_post[s] for s in synonyms if s in self._strong_post]
        weak = [self._weak_post[s] for s in synonyms if s in self._weak_post]
        held = np.unique(np.concatenate(strong)) if strong else np.zeros(0, dtype=np.int32)
        hits = [(held, tuning.synonym_credit * weight)]
        if weak:
            only_weak = np.setdiff1d(np.concatenate(weak), held)
            hits.append((only_weak, tuning.synonym_credit * tuning.weak_credit * weight))
        return hits

    def _spread(self, weights: dict[str, float]) -> np.ndarray:
        """How much of the question's weight each entry holds (not yet divided by the total):
        a term in its questions counts in full, one only in its answer or passages a little
        less, and a word the knowledge never uses by its synonyms the entry has (剖析 meets
        分析) and by the share of its character pairs the entry has (违纪 meets 违反纪律).
        One pass over the postings, in C."""
        tuning = self.tuning
        postings: list[np.ndarray] = []
        credits: list[float] = []
        for term, weight in weights.items():
            ids = self._strong_post.get(term)
            if ids is not None:
                postings.append(ids)
                credits.append(weight)
            ids = self._weak_post.get(term)
            if ids is not None:
                postings.append(ids)
                credits.append(tuning.weak_credit * weight)
            if term not in self._vocab and len(term) >= 2:
                for ids, credit in self._synonym_hits(term, weight):
                    postings.append(ids)
                    credits.append(credit)
                pairs = _pairs(term)
                for pair in pairs:
                    ids = self._pair_postings.get(pair)
                    if ids is not None:
                        postings.append(ids)
                        credits.append(tuning.partial_credit * weight / len(pairs))
        n = len(self._entries)
        if not postings:
            return np.zeros(n)
        spread = np.repeat(np.array(credits), [len(ids) for ids in postings])
        return np.bincount(np.concatenate(postings), weights=spread, minlength=n)

    def _view(self, plain: list[str], slug: str | None) -> _View:
        """The question's terms as one article names things, with their weights."""
        aliases = self._aliases.get(slug, self._aliases[None])
        terms = [aliases.get(t, t) for t in plain]
        weights = {t: self._weight(t) for t in dict.fromkeys(terms)}
        return _View(weights=weights, total=sum(weights.values()), joined=" ".join(terms))

    def _coverage(self, plain: list[str]) -> tuple[np.ndarray, dict[str | None, _View]]:
        """Every entry's coverage of the question (0 to 1), as its own article names things,
        and the view of each article the question touches (`None`: the words as they are)."""
        plain_view = self._view(plain, None)
        views: dict[str | None, _View] = {None: plain_view}
        if not plain_view.total:
            return np.zeros(len(self._entries)), views
        coverage = self._spread(plain_view.weights) / plain_view.total
        # an article where one of the words is an alias sees the question its own way
        for term in plain_view.weights:
            for slug in self._alias_owners.get(term, ()):
                if slug not in views:
                    views[slug] = view = self._view(plain, slug)
                    members = self._members.get(slug)
                    if members is not None and view.total:
                        coverage[members] = (self._spread(view.weights) / view.total)[members]
        return coverage, views

    def _share(self, view: _View, slug: str | None) -> float:
        """The share of the question's weight that an article's own words carry."""
        vocab = self._article_vocab.get(slug, set())
        return sum(w for t, w in view.weights.items() if t in vocab) / view.total

    def rank(self, text: str, *, exclude: str | None = None) -> list[Scored]:
        """The entries that cover the question best (and its exact match), best first."""
        tuning = self.tuning
        norm = normalise(text)
        raw = self._compact(norm)
        query, tokens = self._correct(raw)
        if not query:
            return []
        exact = self._exact.get(raw, self._exact.get(query)) if exclude is None else None
        plain = self._plain(tokens if tokens is not None else self._segmenter.cut(query))
        asked = _intents(norm)
        found = _COUNTED.search(norm) if "quantity" in asked else None
        counted = next((g for g in found.groups() if g), None) if found else None
        covers, views = self._coverage(plain)
        matched = np.flatnonzero(covers)
        plain_view = views[None]
        known: dict[str | None, float] = {}
        if self._several:
            # with several articles, one that lacks the question's words answers something else
            for k in np.unique(self._entry_article[matched]).tolist():
                slug = self._articles[k]
                if slug is not None:
                    known[slug] = self._share(views.get(slug, plain_view), slug)
        best_known = max(known.values(), default=0.0)
        # only the entries that cover the question best are worth the fuzzy comparison
        keep = SHORTLIST_SEVERAL if self._several else SHORTLIST
        if len(matched) > keep:
            matched = matched[np.argpartition(-covers[matched], keep - 1)[:keep]]
        shortlist = sorted(
            zip(covers[matched].tolist(), matched.tolist(), strict=True), reverse=True
        )
        if exact is not None and all(i != exact for _, i in shortlist):
            shortlist.append((float(covers[exact]), exact))
        ids = [i for _, i in shortlist]
        joined = {i: views.get(self._entries[i].article, plain_view).joined for i in ids}
        similarity = self._fuzzy(ids, query, joined, exclude) if ids else []
        scored = []
        for (coverage, i), best in zip(shortlist, similarity, strict=True):
            entry = self._entries[i]
            fuzzy = best / 100.0
            score = tuning.fuzzy_weight * fuzzy + (1 - tuning.fuzzy_weight) * coverage
            # an article that lacks some of the question's words (防汛 in a report on 作风)
            # answers another question: squared, so that its gap entries give way too
            mine = known.get(entry.article, best_known)
            if best_known > 0 and mine < best_known:
                score *= (mine / best_known) ** 2
            if exact == i:
                score = max(score, 1.0)
            elif entry.kind == "chitchat":
                # small talk only when the message is small talk through and through
                if coverage < CHITCHAT_COVERAGE:
                    score *= INTENT_PENALTY
            elif entry.kind == "gap":
                # a gap entry answers one kind of question: the one its own question asks
                if self._asks[i] - asked:
                    score *= INTENT_PENALTY
            elif asked - self._gives[i] or not self._counts(counted, i):
                score *= INTENT_PENALTY
            scored.append(Scored(entry, score, fuzzy, coverage))
        scored.sort(key=lambda s: (-s.score, s.entry.id))
        return scored

    # ----- decision --------------------------------------------------------------------------

    def ask(self, text: str, *, exclude: str | None = None) -> Answer:
        """Answer one question: `answer`, `clarify`, `chitchat` or `none`.

        A message of several clauses ("稿子里王健的职务怎么写的?我核实一下") that finds no
        answer as a whole is asked again clause by clause: people put a question and a
        remark in one message, and the remark's words would only dilute the question's."""
        answer = self.decide(text, self.rank(text, exclude=exclude))
        if answer.kind in ("answer", "chitchat") or answer.gap is not None:
            return answer  # a gap entry knows the report does not say: no second guess
        if not _CLAUSE.search(text.strip(" ?？!！。;；,，\n")):
            return answer  # one clause: nothing to ask again
        unquoted = _QUOTED.sub(lambda m: m.group().replace(",", "、").replace("，", "、"), text)
        parts = _CLAUSE.split(unquoted)  # clause, its delimiter, clause, ...
        clauses = [
            (parts[k], parts[k + 1] if k + 1 < len(parts) else "")
            for k in range(0, len(parts), 2)
            if len(compact(parts[k])) >= 2
        ]
        if len(clauses) < 2:
            return answer
        # the clauses that ask something carry the question; the rest is context or remark
        asking = [c for c, end in clauses if _ASKING.search(c.lower()) or "?" in end or "？" in end]
        clauses = [(c, "") for c in asking] if asking else clauses
        best = answer
        for clause, _ in clauses:
            found = self.decide(text, self.rank(clause, exclude=exclude))
            if found.kind in ("answer", "chitchat") and (
                best.kind not in ("answer", "chitchat") or found.score > best.score
            ):
                best = found
        return best

    def decide(self, text: str, ranked: list[Scored]) -> Answer:
        """Turn a ranking into one of the four outcomes (thresholds and ambiguity margin)."""
        tuning = self.tuning
        if not ranked or ranked[0].score < tuning.clarify_at:
            score = ranked[0].score if ranked else 0.0
            return Answer(text, "none", None, score, suggestions=self._suggest(ranked))
        top = ranked[0]
        rivals = [s for s in ranked[1:] if s.entry.kind == "fact"]
        close = [s for s in rivals if top.score - s.score < tuning.margin]
        clear = not close or top.score >= tuning.sure_at or top.entry.kind != "fact"
        # a lone candidate a little under the bar but far ahead of every other entry
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        lone = top.entry.kind == "fact" and top.score - runner_up >= tuning.lead
        if clear and (top.score >= tuning.answer_at or (lone and top.score >= tuning.lone_at)):
            if top.entry.kind == "chitchat":
                return Answer(
                    text, "chitchat", top.entry, top.score, suggestions=self._suggest(ranked)
                )
            if top.entry.kind == "gap":
                return Answer(
                    text, "none", None, top.score, suggestions=self._suggest(ranked), gap=top.entry
                )
            return Answer(
                text, "answer", top.entry, top.score, suggestions=self._related(top.entry)
            )
        near = [
            s for s in [top, *rivals] if s.entry.kind == "fact" and s.score >= tuning.clarify_at
        ]
        options = [s for s in near if top.score - s.score < 2 * tuning.margin + 0.05][:3]
        if not options:
            return Answer(text, "none", None, top.score, suggestions=self._suggest(ranked))
        return Answer(text, "clarify", None, top.score, candidates=tuple(s.entry for s in options))

    def _related(self, entry: Entry) -> tuple[Entry, ...]:
        by_id = self.knowledge.by_id
        return tuple(by_id[r] for r in entry.related if r in by_id)[:3]

    def _suggest(self, ranked: list[Scored]) -> tuple[Entry, ...]:
        """A few questions the report does answer: the nearest ones, else the first ones."""
        near = [s.entry for s in ranked if s.entry.kind == "fact" and s.score >= SUGGEST_AT][:3]
        if len(near) < 3:
            near += [e for e in self._fallback if all(e.id != n.id for n in near)]
        return tuple(near[:3])


def build_engine(root: Path, segmenter: Segmenter | None = None) -> Engine:
    """Load, validate and index the knowledge folder (raises KnowledgeError on any error)."""
    segmenter = segmenter or Segmenter(default_cache_dir())
    return Engine(load_knowledge(root), segmenter)
