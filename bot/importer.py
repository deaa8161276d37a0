"""Importing a new article: knowledge/<slug>/ with the report verbatim, its metadata, and a
drafted qa.yaml (one `draft: true` entry per sentence, with question variants derived from it)
that passes `python -m bot check`.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import jieba
import jieba.posseg
import yaml

from bot.check import check
from bot.files import fsync_dir
from bot.knowledge import ID_PATTERN, Knowledge, Problem, scan_knowledge
from bot.match import FRAME_WORDS, STOPWORDS, Engine
from bot.normalise import compact
from bot.segment import Segmenter, default_cache_dir

jieba.setLogLevel(logging.WARNING)

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MIN_VARIANTS, MAX_VARIANTS = 5, 10
# a candidate the knowledge before the import answers this surely, in its own words, is its
OWNED_AT = 0.8
MAX_QUESTION = 30  # characters of a drafted canonical question, when there is a choice
MAX_ID = 24
# how often the routing check may trim variants before the import gives up
CHECK_ROUNDS = 4

# ----- what a sentence says, found by pattern ----------------------------------------------------

_CJK = "\u3400-\u9fff"
_END = "。！？!?"
_SENTENCE = re.compile(rf"[^{_END}]+(?:[{_END}]+[”’」』）)\"']*)?|[{_END}]+")
_CLAUSE_SPLIT = re.compile(r"[，,；;：:（）()]")
_TRIM = " \t\u3000\r\n"
_TITLE = (
    r"(?:(?:[省市县区镇乡]委|[省市县区]政府|[省市县区]人大常委会|[省市县区]政协|[省市县区]纪委)?"
    r"(?:常务)?副?(?:书记|省长|市长|县长|区长|镇长|乡长|局长|厅长|处长|科长|主任|部长|主席|"
    r"秘书长|指挥长|院长|检察长|政委|站长|所长|队长|委员|常委|经理|总经理|董事长|总工程师))"
)
_TITLED_NAME = re.compile(rf"((?:{_TITLE}、)*{_TITLE})([{_CJK}]{{2,3}})")
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘"
    "祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾"
    "尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师"
    "和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
# a character that starts the verb after a two-character name (林国华出席 vs 王健主持)
_AFTER_NAME = frozenset(
    "出主讲指强作参在就表要说提代宣通和与及等同为对是的率带陪到来听向介致赴深会一"
)
_SPEECH = ("指出", "强调", "表示", "要求", "提出", "认为", "希望", "介绍", "说")
_UNITS = (
    "万人次|人次|个月|小时|分钟|毫米|厘米|公里|千米|平方米|平方公里|立方米|万元|亿元|元|吨|公斤|千克|"
    "个|座|处|条|件|艘|支|人|名|位|项|台|辆|家|所|间|户|次|场|批|套|只|架|张|份|本|棵|亩|米|"
    "天|周|年|%|％|成|倍|级|期|轮|起|宗|例"
)
_NUMBER = r"(?:\d+(?:\.\d+)?(?:万|亿|千|百)?|[一二两三四五六七八九十百千万半]+(?:多)?)"
_QUANTITY = re.compile(rf"({_NUMBER})(?:多|余)?({_UNITS})")
_SMALL_UNITS = frozenset("个座处条件艘支名位项台辆家所间户次场批套只架张份本")
_DURATION = re.compile(
    rf"({_NUMBER}(?:个)?(?:小时|天|周|星期|个月|年|分钟))(内|以内|之内)?(?![前底初中])"
)
_MEASURES = frozenset(
    {"毫米", "厘米", "米", "公里", "千米", "吨", "公斤", "千克", "立方米", "平方米"}
)
_DURATION_UNITS = frozenset({"小时", "天", "周", "个月", "年", "分钟"})
_DATE = re.compile(
    r"((?:\d{4}年)?\d{1,2}月(?:\d{1,2}日|底|初|中旬|上旬|下旬)?|年底|月底)"
    r"(前|之前|以前|起|开始)?"
    r"(?:(?:上午|下午|晚上|凌晨))?"
)
_ENUM = re.compile(
    rf"([{_CJK}0-9]{{2,16}}(?:、[{_CJK}0-9]{{2,16}})+(?:(?:和|及|与|以及)[{_CJK}0-9]{{2,16}})?)"
)
_BODY_ENDINGS = (
    "局",
    "镇",
    "乡",
    "街道",
    "部",
    "委",
    "院",
    "办",
    "中心",
    "指挥部",
    "公司",
    "所",
    "站",
    "厅",
)
# offices after a county/district prefix (县住建局 -> 住建局), places (双溪镇)
_BODY = re.compile(rf"(?<=[省市县区])([{_CJK}]{{2,5}}?(?:管理局|局|办公室|指挥部|中心))")
_PLACE = re.compile(rf"((?<![各每全本该乡城县])[{_CJK}]{{2}}(?:镇|乡|街道))(?![长委])")
_MEETING = re.compile(rf"([{_CJK}]{{2,16}}(?:会议|大会))")
_KEYWORD_POS = ("n", "nr", "ns", "nt", "nz", "vn", "v", "l", "j", "i", "an", "eng", "nrt")
_WEAK = (
    STOPWORDS
    | FRAME_WORDS
    | frozenset(("会议", "工作", "全县", "全区", "全市", "今年", "要求", "进行", "开展"))
    | frozenset(("做好", "加强", "推进"))
)


class ImportRefused(Exception):
    """The article cannot be imported as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Sentence:
    """One passage to draft an entry from: an exact excerpt of article.txt."""

    text: str
    paragraph: int  # line of article.txt, 1-based (what the bot shows as 第n段)
    index: int  # 1-based within its paragraph
    start: int


@dataclass(frozen=True)
class Draft:
    """One drafted entry, before it is written to qa.yaml."""

    suffix: str  # "p3-s2": the id without its article prefix
    question: str
    answer: str
    passage: Sentence
    variants: tuple[str, ...]
    related: tuple[str, ...] = ()
    id: str = ""


@dataclass(frozen=True)
class ImportResult:
    """What `import_article` wrote, and the check's warnings about it."""

    folder: Path
    title: str
    encoding: str
    drafts: tuple[Draft, ...]
    aliases: tuple[tuple[str, ...], ...]
    dropped: tuple[str, ...] = ()  # variants the routing check took out
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def variants(self) -> int:
        return sum(len(d.variants) for d in self.drafts)


# ----- reading the file --------------------------------------------------------------------------


def decode_article(raw: bytes, name: str = "the file") -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8, UTF-8 with a BOM, else GB18030."""
    text: str | None = None
    encoding = ""
    try:
        text = raw.decode("utf-8")
        encoding = "utf-8"
        if text.startswith("\ufeff"):
            text, encoding = text[1:], "utf-8-sig"
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            text = None
    if text is None or re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]", text):
        raise ImportRefused(
            f"cannot read {name}: it is not UTF-8 or GB18030 text (save it as UTF-8 and retry)"
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ImportRefused(f"{name} is empty")
    if not re.search(f"[{_CJK}]", text):
        raise ImportRefused(f"{name} holds no Chinese text: is it the right file?")
    return text, encoding


def split_sentences(text: str) -> list[Sentence]:
    """Sentence-sized passages: each non-empty line split after 。！？ (closing quotes kept);
    fragments too short to ask about are joined to their neighbour."""
    out: list[Sentence] = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        spans: list[tuple[int, int]] = []
        for match in _SENTENCE.finditer(line):
            start, end = match.span()
            while start < end and line[start] in _TRIM:
                start += 1
            while end > start and line[end - 1] in _TRIM:
                end -= 1
            if end <= start:
                continue
            if spans and (
                len(compact(line[start:end])) < 4
                or len(compact(line[spans[-1][0] : spans[-1][1]])) < 4
            ):
                spans[-1] = (spans[-1][0], end)  # one span: the text between stays verbatim
            else:
                spans.append((start, end))
        for index, (start, end) in enumerate(spans, start=1):
            out.append(Sentence(line[start:end], number, index, offset + start))
        offset += len(line) + 1
    return out


# ----- drafting ----------------------------------------------------------------------------------


class Drafter:
    """Derives questions from the sentences of one article (jieba keywords, names, numbers)."""

    def __init__(self, text: str, cache_dir: Path | None = None) -> None:
        self.text = text
        self._tokenizer = jieba.Tokenizer()
        cache_dir = cache_dir or default_cache_dir()
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._tokenizer.tmp_dir = str(cache_dir)
        self._pos = jieba.posseg.POSTokenizer(self._tokenizer)
        self.titles: dict[str, str] = {}  # name -> title(s) as the article gives them
        self.names = self._find_names()
        # names, offices and places stay whole (jieba alone cuts 住建局 into 住/建局)
        for name in self.names:
            self._tokenizer.add_word(name, freq=20000, tag="nr")
        for body in _BODY.findall(text):
            self._tokenizer.add_word(body, freq=20000, tag="nt")
        for place in _PLACE.findall(text):
            self._tokenizer.add_word(place, freq=20000, tag="ns")
        # what a figure counts (18处易涝点: 易涝点, not 处易/涝点)
        for match in _QUANTITY.finditer(text):
            counted = re.match(rf"[{_CJK}]{{2,6}}?(?=[、，。；和及与的]|$)", text[match.end() :])
            if counted and not self._tokenizer.FREQ.get(counted.group(0)):
                self._tokenizer.add_word(counted.group(0), freq=20000, tag="n")
        self.meeting = _shortest_meeting(_MEETING.findall(text))
        # the place the article is about, as its first line names it (青溪县, 婺城区)
        first = next((line for line in text.split("\n") if line.strip()), "")
        place = re.search(rf"[{_CJK}]{{2,3}}?[省市县区镇乡]", first)
        self.place = place.group(0) if place else ""

    # names and titles ---------------------------------------------------------------------

    def _find_names(self) -> set[str]:
        names: set[str] = set()
        for match in _TITLED_NAME.finditer(self.text):
            title, rest = match.group(1), match.group(2)
            name = rest if len(rest) == 3 and rest[2] not in _AFTER_NAME else rest[:2]
            if name[0] in SURNAMES:
                names.add(name)
                self.titles.setdefault(name, title)
        for enum in _ENUM.finditer(self.text):
            items = re.split(r"、|和|及|与|以及", enum.group(1))
            # a list of people: two or three characters each, starting with a surname (the
            # first may carry a prefix such as 县领导)
            if len(items) >= 2 and all(len(i) in (2, 3) and i[0] in SURNAMES for i in items[1:]):
                first = items[0]
                head = first[-3:] if len(first) > 3 and first[-3] in SURNAMES else first[-2:]
                names.update(i for i in (head, *items[1:]) if i[0] in SURNAMES)
        for word, flag in self.tag(self.text):
            if flag == "nr" and 2 <= len(word) <= 3 and word[0] in SURNAMES:
                names.add(word)
        # a word jieba knows well (王国, 高度) is no name
        return {n for n in names if self._tokenizer.FREQ.get(n, 0) < 50}

    # text helpers -------------------------------------------------------------------------

    def tag(self, text: str) -> list[tuple[str, str]]:
        """(word, part of speech) pairs."""
        return [(pair.word, pair.flag) for pair in self._pos.lcut(text)]

    def keywords(self, text: str, top: int = 6) -> list[str]:
        """The words that say most about a text: TF-IDF over jieba's IDF table."""
        idf, median = _idf_table()
        counts = Counter(
            word
            for word, flag in self.tag(text)
            if flag in _KEYWORD_POS
            and len(word) >= 2
            and word not in _WEAK
            and not re.fullmatch(r"[\d.%]+", word)
        )
        weight = {word: n * idf.get(word, median) for word, n in counts.items()}
        return sorted(weight, key=lambda w: -weight[w])[:top]

    def chunks(self, text: str) -> list[str]:
        """Noun phrases: runs of nouns and their modifiers (城东/泵站, 县/住建局)."""
        out: list[str] = []
        run: list[tuple[str, str]] = []

        def flush() -> None:
            while run and not run[-1][1].startswith(("n", "vn", "zg", "j")):
                run.pop()
            while run and not run[0][1].startswith(("n", "vn", "b", "zg", "j", "a")):
                run.pop(0)
            phrase = "".join(w for w, _ in run)
            if len(phrase) >= 2 and phrase not in _WEAK:
                out.append(phrase)
            run.clear()

        for word, flag in self.tag(text):
            if flag.startswith(("n", "vn", "b", "zg", "j")) and word not in _WEAK:
                run.append((word, flag))
            else:
                flush()
        flush()
        return out

    def distinctive(self, word: str) -> bool:
        """Whether a word alone can stand for one sentence: long enough, and said once."""
        return len(word) >= 3 and self.text.count(word) == 1

    # questions ----------------------------------------------------------------------------

    def questions(
        self, sentence: Sentence, speaker: str | None = None, topic: str | None = None
    ) -> list[str]:
        """Candidate questions for a sentence, the most telling first. `speaker` is the person
        the previous sentence named (他说 refers to them); `topic` what the paragraph's short
        opening sentence announced (要加强应急队伍建设。…共计860人: 应急队伍共计多少人).

        Each kind of question (who, when, how many, ...) is a group; the list takes the best
        of every group before the second best of any, so that ten variants cover them all."""
        s = sentence.text
        clauses = [c.strip(_TRIM + _END) for c in _CLAUSE_SPLIT.split(s)]
        clauses = [c for c in clauses if c]
        headline = sentence.paragraph == 1 and sentence.index == 1 and not re.search(f"[{_END}]", s)
        people, lists = self._lists(clauses)
        groups = [
            self._headline(s) if headline else [],
            people,
            self._who(clauses, speaker),
            self._when(clauses),
            self._byline(s),
            self._how_many(clauses, topic),
            self._how_long(clauses),
            lists,
            self._duty(clauses),
            self._if(clauses),
            self._what(clauses),
        ]
        # keywords and noun phrases only fill the places the questions above leave
        ordered = _interleave([[_tidy(q) for q in group] for group in groups])
        ordered += [_tidy(q) for q in self._about(s)]
        return [q for q in dict.fromkeys(ordered) if len(compact(q)) >= 2]

    def names_in(self, text: str) -> list[str]:
        return [n for n in sorted(self.names, key=lambda n: (text.find(n), -len(n))) if n in text]

    def _headline(self, s: str) -> list[str]:
        place = self.place or next((w for w, f in self.tag(s) if f == "ns"), "")
        topic = self.meeting or "".join(self.keywords(s, 2))
        return [
            f"{place}{topic}这篇报道的标题是什么",
            f"{topic}报道的标题",
            f"{place}{topic}新闻标题叫什么",
        ]

    def _who(self, clauses: list[str], speaker: str | None) -> list[str]:
        """Who did what (谁主持防汛防台工作会议), who holds a title (县长是谁) and what a
        person's title is (周明远是什么职务): for each person in turn."""
        out: list[str] = []
        first = clauses[0] if clauses else ""
        pronoun = re.match(r"^(?:他|她)(指出|强调|表示|要求|提出|认为|希望|说)$", first)
        if speaker and pronoun:
            out += [f"{speaker}{pronoun.group(1)}了什么", f"{speaker}还说了什么"]
        per_person: list[list[str]] = []
        for clause in clauses:
            for name in self.names_in(clause):
                at = clause.find(name)
                before, after = clause[:at], clause[at + len(name) :]
                title = self.titles.get(name, "")
                titles: list[str] = []
                if title and title in before:
                    last_title = title.split("、")[-1]
                    titles += [f"{name}是什么职务", f"{last_title}是谁", f"{name}担任什么职务"]
                elif re.search(r"(?:领导|嘉宾|代表)$", before):
                    titles.append(f"{name}是谁")
                per_person += [self._deeds(name, after), titles]
        return out + _interleave(per_person)

    def _deeds(self, name: str, after: str) -> list[str]:
        """Questions whose answer is this person, from what the clause says they did."""
        if not after or after[0] in "、和及与":
            return []  # one of a list of names
        speech = next((v for v in _SPEECH if after.startswith(v)), None)
        if speech:
            return [f"{name}{speech}了什么", f"{name}怎么说的"]
        out: list[str] = []
        if self.meeting and after.endswith("会议"):
            verb = after[:-2]
            out += [
                f"谁{verb}{self.meeting}",
                f"{self.place}{self.meeting}是谁{verb}的",
                f"{self.meeting}{after[-4:-2]}人是谁",
            ]
        if self.meeting and "会议" in after[:-2]:
            out.append("谁" + after.replace("会议", self.meeting, 1))
        if "并" in after:
            second = after.split("并", 1)[1]
            if self.meeting:
                out.append(f"谁在{self.place}{self.meeting}上{second}")
            out.append(f"谁{second}")
        out.append(f"谁{after}")
        return out

    def _when(self, clauses: list[str]) -> list[str]:
        out: list[str] = []
        for k, clause in enumerate(clauses):
            match = _DATE.search(clause)
            if not match or re.search(r"截至|以来", clause):
                continue
            rest = clause[match.end() :]
            if len(compact(rest)) < 2 and k + 1 < len(clauses):
                # "6月3日下午，青溪县召开……会议": ask when the next clause happened
                rest = clauses[k + 1]
                subject = next(iter(self.chunks(rest)), "")
                if subject and rest.startswith(subject):
                    out.append(f"{subject}什么时候{rest[len(subject) :]}")
                out.append(f"{rest}是什么时候")
                if self.meeting and self.meeting in rest:
                    out += [f"{self.meeting}是哪天开的", f"{self.meeting}什么时候开的"]
                continue
            deadline = match.group(2) in ("前", "之前", "以前")
            before = re.sub(r"(?:要在|在|于|要于)$", "", clause[: match.start()])
            rest = re.sub(r"^(?:前|之前|以前)", "", rest)
            subject = "".join(self.chunks("，".join(clauses[:k]))[-1:]) if k else ""
            when = "什么时候前" if deadline else "什么时候"
            if subject:
                out.append(f"{subject}什么时候{rest}")
            if before:
                out.append(f"{before}{when}{rest}")
            if deadline:
                out.append(f"{subject or before}的期限是哪天")
                task = "".join(self.chunks(rest)[-1:])  # 完成……的拉网式排查: 拉网式排查
                if task and not subject:
                    out[:0] = [f"{task}什么时候完成", f"{task}的截止日期是哪天"]
        return out

    def _byline(self, s: str) -> list[str]:
        match = re.search(rf"记者\s*([{_CJK}]{{2,3}})", s)
        if not match:
            return []
        name = match.group(1)
        # not 记者是谁 alone: another article may have no byline, and the question is its too
        return [
            f"{self.place}{self.meeting}报道的记者是谁",
            f"{name}是谁",
            f"{self.meeting}的报道是谁写的",
        ]

    def _how_many(self, clauses: list[str], topic: str | None = None) -> list[str]:
        per_figure: list[list[str]] = []
        for clause in clauses:
            dates = [m.span() for m in _DATE.finditer(clause)]
            for match in _QUANTITY.finditer(clause):
                number, unit = match.group(1), match.group(2)
                if number == "一" or any(a <= match.start() < b for a, b in dates):
                    continue  # 不漏一人 is an idiom, not a figure; 6月3日 is a date
                before, after = clause[: match.start()], clause[match.end() :]
                if unit in _DURATION_UNITS and after[:1] in ("内", "以", "之"):
                    continue  # 两周内: a how-long question
                percent = unit in ("%", "％", "成", "倍")
                small = unit in _SMALL_UNITS and _small(number)
                asked = "多少" if percent else ("几" if small else "多少") + unit
                noun_after = re.split(r"[、和及与的，]", after, maxsplit=1)[0]
                if len(noun_after) > 5:  # 9座危桥设置警示标志: what is counted is 危桥
                    head = itertools.takewhile(
                        lambda pair: pair[1].startswith("n"), self.tag(noun_after)
                    )
                    noun_after = "".join(word for word, _ in head)
                # the thing counted, when it comes first: 编织袋5万条、冲锋舟12艘
                segment = re.split(r"[、，和及与]|\d", before)[-1]
                nouns_before = [segment] if 2 <= len(segment) <= 5 else self.chunks(before)
                out: list[str] = []
                counted = noun_after if len(noun_after) >= 2 else "".join(nouns_before[-1:])
                if counted:
                    out.append(f"{counted}有多少{'' if percent else unit}")
                    if small:
                        out.append(f"{counted}有几{unit}")
                if topic and not noun_after and len(before) <= 4:  # 共计860人: whose 860?
                    out.append(f"{topic}{before}{asked}")
                out.append(f"{before}{asked}{noun_after}")
                if unit in _MEASURES:  # 累计降雨612毫米: 累计降雨量是多少
                    pair = "".join(w for w, _ in self.tag(before)[-2:])
                    out += [f"{pair}量是多少", f"{pair}量有多少"]
                if len(noun_after) >= 2:
                    out.append(f"多少{unit if not percent else ''}{noun_after}")
                elif nouns_before:
                    out.append(f"{nouns_before[-1]}的数量")
                per_figure.append(out)
        return _interleave(per_figure)

    def _how_long(self, clauses: list[str]) -> list[str]:
        out: list[str] = []
        for clause in clauses:
            for match in _DURATION.finditer(clause):
                before, after = clause[: match.start()], clause[match.end() :]
                within = "内" if match.group(2) else ""
                out.append(f"{before}多长时间{within}{after}")
                nouns = self.chunks(after)
                verb = next((w for w, f in self.tag(after) if f == "v"), "")
                if nouns:
                    out.append(f"{nouns[-1]}要多长时间")
                    out.append(f"{verb}{nouns[-1]}要多久" if verb else f"{nouns[-1]}要多久")
        return out

    def _lists(self, clauses: list[str]) -> tuple[list[str], list[str]]:
        """Questions about lists: (of people: 哪些县领导参加会议, of anything else: 哪些单位…)."""
        people_questions: list[str] = []
        other: list[str] = []
        for clause in clauses:
            for match in _ENUM.finditer(clause):
                items = [i for i in re.split(r"、|和|及|与|以及", match.group(1)) if i]
                before, after = clause[: match.start()], clause[match.end() :]
                # the pattern runs on into what follows the list: 双溪镇作了表态发言
                last = self._item_end(items[-1])
                after = items[-1][len(last) :] + after
                items[-1] = last
                if not after or any(_QUANTITY.search(i) for i in items):
                    continue
                people = all(self.names_in(i) for i in items)
                if people:
                    first = items[0]
                    prefix = first[: first.find(self.names_in(first)[0])] if first else ""
                    people_questions += [
                        f"哪些{prefix or '人'}{after}",
                        f"还有谁{after}",
                        f"{prefix}有谁{after}",
                    ]
                    continue
                bodies = all(i.endswith(_BODY_ENDINGS) for i in items)
                word = "哪些单位" if bodies else "哪些"
                other.append(f"{before}{word}{after}")
                if bodies:
                    other += [f"哪些部门{after}", f"谁{after}"]
        return people_questions, other

    def _item_end(self, item: str) -> str:
        """The list item itself, without the predicate the pattern ran on into."""
        for name in self.names_in(item):
            if item.find(name) >= 0:
                return item[: item.find(name) + len(name)]
        ending = re.match(rf"[{_CJK}]{{1,8}}?(?:{'|'.join(_BODY_ENDINGS)})", item)
        return ending.group(0) if ending else item

    def _duty(self, clauses: list[str]) -> list[str]:
        """Which office does what: 县住建局要……完成易涝点的整治 -> 易涝点整治由哪个部门负责."""
        out: list[str] = []
        for clause in clauses:
            body = re.match(
                rf"(?!各)([{_CJK}]{{2,10}}?(?:{'|'.join(_BODY_ENDINGS)}))(?:要|将|负责|牵头)",
                clause,
            )
            if not body:
                continue
            # what it is to do, up to the first list or figure (储备编织袋5万条、…: 编织袋)
            duty = re.split(r"[、\d]", clause[body.end() :], maxsplit=1)[0]
            task = "".join(self.chunks(duty)[-2:])
            if len(task) >= 2:
                out += [f"{task}由哪个部门负责", f"哪个部门负责{task}", f"{task}是谁负责的"]
        return out

    def _if(self, clauses: list[str]) -> list[str]:
        """What to do when something happens: 遇到强降雨天气，要…… -> 遇到强降雨天气怎么办."""
        first = clauses[0] if clauses else ""
        match = re.match(r"^(?:遇到|遇有|如遇|一旦|出现|发生|如果|若)(.{2,12})$", first)
        if not match:
            return []
        event = match.group(1)
        return [f"遇到{event}怎么办", f"{event}时要怎么做", f"出现{event}怎么办"]

    def _what(self, clauses: list[str]) -> list[str]:
        """Subject + verb + 什么 (会议通报了什么), 谁是 (谁是第一责任人), 还有谁参加会议."""
        out: list[str] = []
        for clause in clauses[:3]:
            if "是" in clause and not clause.startswith("是"):
                subject, _, predicate = clause.partition("是")
                if len(compact(predicate)) >= 4 and len(compact(subject)) >= 2:
                    out += [f"谁是{predicate}", f"{subject}是什么"]
                    continue
            words = self.tag(clause)
            for k, (word, flag) in enumerate(words):
                verb = flag == "v" or (k + 1 < len(words) and words[k + 1][0] == "了")
                if k == 0 or not verb or word in ("是", "要", "有", "将", "会", "能", "对"):
                    continue
                head = "".join(w for w, _ in words[: k + 1])
                if len(compact(head)) < 3 or k + 1 >= len(words):
                    break
                done = "了" if words[k + 1][0] == "了" else ""
                out.append(f"{head}{done}什么")
                if word in ("参加", "出席", "列席") and not self.names_in(clause):
                    rest = "".join(w for w, _ in words[k:])
                    out += [f"还有谁{rest}", f"哪些人{rest}"]
                break
            if clause.startswith("要"):
                chunks = self.chunks(clause)
                if chunks:
                    out += [f"对{chunks[-1]}有什么要求", f"{chunks[-1]}要怎么做"]
        return out

    def _about(self, s: str) -> list[str]:
        words = self.keywords(s, 4)
        # names have their own questions (谁…, …是什么职务); 周明远是什么情况 would only compete
        chunks = [c for c in self.chunks(s) if 3 <= len(c) <= 10 and not self.names_in(c)]
        out = []
        if len(words) >= 3:
            out.append(" ".join(words[:3]))
        if len(words) >= 2:
            out.append(" ".join(words[:2]))
        out += [f"{c}是什么情况" for c in chunks[:2]]
        if words and words[0] not in self.names:
            out.append(f"关于{words[0]}，报道是怎么说的")
        out += [f"{a} {b}" for a, b in itertools.pairwise(words)]
        out += [w for w in (*chunks, *words) if self.distinctive(w)]
        return out

    def fragments(self, sentence: Sentence) -> Iterator[str]:
        """Last resorts, so that every entry has its five variants: word-aligned stretches of
        the sentence, 6 to 16 characters long."""
        words = [w for w, _ in self.tag(sentence.text)]
        for size in (8, 12, 16, 6):
            for start in range(len(words)):
                piece = ""
                for word in words[start:]:
                    if len(piece) + len(word) > size:
                        break
                    piece += word
                piece = piece.strip(_TRIM + _END + "，、；：")
                if len(compact(piece)) >= 5:
                    yield piece


def _interleave(groups: list[list[str]]) -> list[str]:
    """The first of every group, then the second of every group, and so on."""
    out: list[str] = []
    for rank in range(max((len(g) for g in groups), default=0)):
        out += [g[rank] for g in groups if rank < len(g)]
    return out


@functools.cache
def _idf_table() -> tuple[dict[str, float], float]:
    """jieba's IDF table (read directly: `jieba.analyse` leaks an open file at import)."""
    path = Path(jieba.__file__).parent / "analyse" / "idf.txt"
    table: dict[str, float] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            word, _, value = line.strip().partition(" ")
            if value:
                table[word] = float(value)
    values = sorted(table.values())
    return table, values[len(values) // 2] if values else 10.0


def _shortest_meeting(found: Iterable[str]) -> str:
    """The meeting's name as the article gives it, without a leading date or place verb."""
    for name in found:
        name = re.sub(r"^.*?(?:召开|举行|举办|参加|出席)了?", "", name)
        name = re.sub(r"^(?:全县|全区|全市|全省)", "", name)
        if 4 <= len(name) <= 12:
            return name
    return ""


def _small(number: str) -> bool:
    try:
        return float(number) < 20
    except ValueError:
        return number in set("一二两三四五六七八九十") or number in ("十一", "十二")


def _tidy(question: str) -> str:
    question = re.sub(r"\s+", " ", question).strip(_TRIM + "，、；：,;:")
    question = question.rstrip("？?。！!")
    return question


# ----- the whole import --------------------------------------------------------------------------


def draft_entries(
    text: str,
    slug: str,
    knowledge: Knowledge | None,
    *,
    existing: Engine | None = None,
    cache_dir: Path | None = None,
) -> tuple[list[Draft], list[tuple[str, ...]]]:
    """One draft per sentence of `text`, ids unique across `knowledge`; and drafted aliases.

    With `existing` (the engine over the knowledge before the import), a candidate question
    it already answers confidently (or explains as a gap), in words it already uses, is left
    out: 谁主持会议 belongs to the article that had it first; 谁主持防汛防台工作会议 does not.
    """
    drafter = Drafter(text, cache_dir)
    known = _known_text(knowledge) if existing is not None and knowledge else ""

    def generic(candidate: str) -> bool:
        if existing is None:
            return False
        answer = existing.ask(candidate)
        if (answer.kind != "answer" and answer.gap is None) or answer.score < OWNED_AT:
            return False
        return all(term in known for term in existing.terms(candidate))

    taken = {compact(q) for e in knowledge.entries for q in e.questions} if knowledge else set()
    ids = {e.id for e in knowledge.entries} if knowledge else set()
    sentences = [s for s in split_sentences(text) if len(compact(s.text)) >= 4]
    if not sentences:
        raise ImportRefused("the article has no sentence to draft a question from")
    drafts: list[Draft] = []
    speaker: str | None = None
    topic: str | None = None
    for k, sentence in enumerate(sentences):
        if sentence.index == 1 or (k and sentences[k - 1].paragraph != sentence.paragraph):
            speaker = None
            short = len(compact(sentence.text)) <= 16
            topic = next(iter(drafter.chunks(sentence.text)[-1:]), None) if short else None
        candidates = drafter.questions(sentence, speaker, topic if sentence.index > 1 else None)
        speaker = next(iter(drafter.names_in(sentence.text)), speaker)
        chosen: list[str] = []
        for candidate in itertools.chain(candidates, drafter.fragments(sentence)):
            key = compact(candidate)
            if key and key not in taken and len(candidate) <= 60:
                taken.add(key)
                if not generic(candidate):
                    chosen.append(candidate)
            if len(chosen) > MAX_VARIANTS:
                break
        if not chosen:  # a tiny sentence whose every candidate is taken: name it by place
            chosen.append(f"{slug} 第{sentence.paragraph}段第{sentence.index}句说了什么")
            taken.add(compact(chosen[0]))
        # the canonical question is shown on buttons: the first that is not too long
        first = next(
            (i for i, q in enumerate(chosen) if len(q) <= MAX_QUESTION and " " not in q),
            next((i for i, q in enumerate(chosen) if len(q) <= MAX_QUESTION), 0),
        )
        question = chosen.pop(first) + "？"
        variants = tuple(chosen)
        drafts.append(
            Draft(
                suffix=f"p{sentence.paragraph}-s{sentence.index}",
                question=question,
                answer=sentence.text,
                passage=sentence,
                variants=variants,
            )
        )
    prefix = _id_prefix(slug, [d.suffix for d in drafts], ids)
    drafts = [replace(d, id=f"{prefix}-{d.suffix}") for d in drafts]
    by_paragraph: dict[int, list[str]] = {}
    for d in drafts:
        by_paragraph.setdefault(d.passage.paragraph, []).append(d.id)
    drafts = [
        replace(d, related=tuple(i for i in by_paragraph[d.passage.paragraph] if i != d.id)[:3])
        for d in drafts
    ]
    aliases = _aliases(drafter, knowledge)
    return drafts, aliases


def _known_text(knowledge: Knowledge) -> str:
    """Every word the knowledge uses, as one string to look terms up in."""
    parts = [a.text for a in knowledge.articles.values()]
    parts += [name for group in knowledge.aliases for name in group]
    for entry in knowledge.entries:
        parts += [*entry.questions, entry.answer]
    return "\n".join(parts).lower()


def _id_prefix(slug: str, suffixes: list[str], taken: set[str]) -> str:
    """The longest prefix of the slug that keeps every id within 24 characters and unique."""
    room = MAX_ID - 1 - max(len(s) for s in suffixes)
    base = slug[:room].rstrip("-") or "a"
    candidates = [base] + [f"{base[: room - len(str(n))].rstrip('-')}{n}" for n in range(2, 100)]
    for prefix in candidates:
        ids = [f"{prefix}-{s}" for s in suffixes]
        if all(ID_PATTERN.match(i) and i not in taken for i in ids):
            return prefix
    raise ImportRefused(f"cannot make unique entry ids from slug {slug!r}: choose another slug")


def _aliases(drafter: Drafter, knowledge: Knowledge | None) -> list[tuple[str, ...]]:
    """Each titled person with their title(s), when no article uses those words yet."""
    used = {compact(n) for group in knowledge.aliases for n in group} if knowledge else set()
    out = []
    for name, title in sorted(drafter.titles.items()):
        names = [name, *(t for t in title.split("、") if len(t) >= 2)]
        names = [n for n in dict.fromkeys(names) if compact(n) not in used]
        if len(names) >= 2 and names[0] == name:
            out.append(tuple(names))
            used.update(compact(n) for n in names)
    return out


def check_slug(slug: str) -> None:
    if not SLUG_PATTERN.match(slug):
        raise ImportRefused(
            f"invalid slug {slug!r}: use lowercase letters, digits and '-' (e.g. qingxi-fangxun)"
        )


def import_article(
    source: Path,
    slug: str,
    knowledge_dir: Path,
    *,
    title: str | None = None,
    segmenter: Segmenter | None = None,
) -> ImportResult:
    """Create knowledge_dir/<slug>/ from the report in `source`; raise ImportRefused if it
    cannot (bad slug, slug taken, unreadable file, a knowledge folder that has errors)."""
    check_slug(slug)
    root = knowledge_dir.resolve()
    if not root.is_dir():
        raise ImportRefused(f"knowledge folder {knowledge_dir} not found")
    target = root / slug
    if target.exists():
        raise ImportRefused(
            f"{target} already exists: choose another --slug (an import never overwrites)"
        )
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ImportRefused(f"cannot read {source}: {exc.strerror or exc}") from exc
    text, encoding = decode_article(raw, str(source))
    knowledge, problems = scan_knowledge(root)
    errors = [p for p in problems if p.severity == "error" and p.message != _NO_ARTICLE]
    if errors:  # (a folder with no article yet is fine: this is its first)
        listed = "\n".join(str(p) for p in errors)
        raise ImportRefused(f"the knowledge folder has errors; fix them first:\n{listed}")
    title = " ".join((title or next(line for line in text.split("\n") if line.strip())).split())
    segmenter = segmenter or Segmenter(default_cache_dir())
    drafts, aliases = draft_entries(
        text,
        slug,
        knowledge,
        existing=Engine(knowledge, segmenter) if knowledge and knowledge.facts else None,
    )
    drafts, dropped, warnings = _settle(root, slug, text, title, drafts, aliases, segmenter)

    # Write into a hidden folder next to the others (the loader skips names starting with
    # '.'), then rename it into place: the bot never sees half an article.
    staging = root / f".import-{slug}-{secrets.token_hex(4)}"
    try:
        _write_folder(staging, slug, text, title, drafts, aliases)
        if target.exists():
            raise ImportRefused(f"{target} appeared while importing: choose another --slug")
        os.rename(staging, target)
        fsync_dir(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return ImportResult(
        folder=target,
        title=title,
        encoding=encoding,
        drafts=tuple(drafts),
        aliases=tuple(aliases),
        dropped=tuple(dropped),
        warnings=tuple(warnings),
    )


def _settle(
    root: Path,
    slug: str,
    text: str,
    title: str,
    drafts: list[Draft],
    aliases: list[tuple[str, ...]],
    segmenter: Segmenter,
) -> tuple[list[Draft], list[str], list[Problem]]:
    """Run the full check on a copy of the knowledge with the drafts, and take out the
    variants it says the engine answers with another entry; give up on any other error."""
    dropped: list[str] = []
    mine = {d.id for d in drafts}
    for _ in range(CHECK_ROUNDS):
        with tempfile.TemporaryDirectory(prefix="import-") as tmp:
            copy_root = Path(tmp) / root.name
            shutil.copytree(root, copy_root, ignore=shutil.ignore_patterns(".*"))
            _write_folder(copy_root / slug, slug, text, title, drafts, aliases)
            knowledge, problems = check(copy_root, segmenter)
            copy_resolved = copy_root.resolve()
        problems = [_moved(p, copy_resolved, root) for p in problems]
        errors = [p for p in problems if p.severity == "error"]
        if knowledge is not None and not errors:
            warnings = [p for p in problems if p.entry in mine or slug in p.file.parts]
            return drafts, dropped, warnings
        unwanted = _misrouted(errors, drafts, mine)
        if not unwanted:
            raise ImportRefused(
                "the knowledge with the drafts fails `python -m bot check` (run it on the "
                "knowledge folder as it is; if that passes, this is a bug of the importer):\n"
                + "\n".join(str(p) for p in errors[:20])
            )
        drafts = [_without(d, {v for i, v in unwanted if i == d.id}) for d in drafts]
        dropped += [v for _, v in sorted(unwanted)]
    raise ImportRefused("the drafted entries still fail the routing check; please report this")


def _without(draft: Draft, texts: set[str]) -> Draft:
    """The draft without these questions; a variant stands in for a lost canonical question."""
    if not texts:
        return draft
    variants = [v for v in draft.variants if v not in texts]
    question = draft.question
    if question in texts and variants:
        question = variants.pop(0) + "？"
    return replace(draft, question=question, variants=tuple(variants))


def _moved(problem: Problem, copy_root: Path, root: Path) -> Problem:
    """A problem found in the temporary copy, pointing at the real file."""
    try:
        return replace(problem, file=root / problem.file.relative_to(copy_root))
    except ValueError:
        return problem


_ROUTED = re.compile(r"variant (['\"])(.+)\1 is answered by entry (\S+)$")
_TAKEN = re.compile(r"variant (['\"])(.+)\1 is also a question of entry (\S+) ")
_NO_ARTICLE = "no article folder (expected <slug>/article.txt)"


def _misrouted(errors: list[Problem], drafts: list[Draft], mine: set[str]) -> set[tuple[str, str]]:
    """(draft id, variant) pairs to drop so that every variant routes to its own entry."""
    from rapidfuzz import fuzz

    by_id = {d.id: d for d in drafts}
    unwanted: set[tuple[str, str]] = set()
    for problem in errors:
        match = _ROUTED.search(problem.message) or _TAKEN.search(problem.message)
        if not match or problem.entry is None:
            return set()
        variant, winner = match.group(2), match.group(3)
        if problem.entry in mine:
            unwanted.add((problem.entry, variant))  # our variant goes elsewhere: drop it
        elif winner in by_id and by_id[winner].variants:
            # an older entry's variant now lands on a draft: drop the draft's nearest variant
            nearest = max(
                by_id[winner].variants, key=lambda v: fuzz.ratio(compact(v), compact(variant))
            )
            unwanted.add((winner, nearest))
        else:
            return set()
    return unwanted


# ----- writing the folder ------------------------------------------------------------------------


def _write_folder(
    folder: Path,
    slug: str,
    text: str,
    title: str,
    drafts: list[Draft],
    aliases: list[tuple[str, ...]],
) -> None:
    folder.mkdir(parents=True)
    _write(folder / "article.txt", text)
    (folder / "article.txt").chmod(0o444)  # never edit: passages are checked against it
    _write(folder / "meta.yaml", meta_yaml(slug, title))
    _write(folder / "qa.yaml", qa_yaml(title, drafts, aliases))
    fsync_dir(folder)


def _write(path: Path, content: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def scalar(value: str) -> str:
    """A YAML scalar for `value`: plain when it reads back as itself, else double-quoted."""
    if "\n" not in value and value == value.strip():
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def meta_yaml(slug: str, title: str) -> str:
    return (
        "# Metadata of one article. The article text itself is article.txt in this folder, a\n"
        "# verbatim copy of the published report: never edit it, passages are checked against it.\n"
        f"slug: {scalar(slug)}\n"
        f"title: {scalar(title)}\n"
        f"short_title: {scalar(title)}   # shorten it: lists and buttons show this\n"
        "publisher: null   # not known at import: who published the report\n"
        "date: null        # not known at import: the publication date, e.g. 2024-06-03\n"
    )


def qa_yaml(title: str, drafts: list[Draft], aliases: list[tuple[str, ...]]) -> str:
    lines = [
        f"# {title}：问答草稿",
        "# Drafted by `python -m bot import` from article.txt: one entry per sentence, each",
        "# marked `draft: true`. The bot answers from drafts at once. To curate an entry, write a",
        "# better question and a short answer that states the facts, add the ways people really",
        "# ask, then delete its `draft: true` line.",
        "",
    ]
    if aliases:
        lines += [
            "# Aliases drafted from the titles the report gives (check them: an alias applies to",
            "# every article). The first name of a group is the canonical one.",
            "aliases:",
            *(f"  - [{', '.join(scalar(n) for n in group)}]" for group in aliases),
            "",
        ]
    lines.append("entries:")
    paragraph = 0
    for draft in drafts:
        if draft.passage.paragraph != paragraph:
            paragraph = draft.passage.paragraph
            lines += ["", f"  # ---- article.txt line {paragraph} ----"]
        lines += [
            "",
            f"  - id: {draft.id}",
            "    draft: true",
            f"    question: {scalar(draft.question)}",
            f"    answer: {scalar(draft.answer)}",
            "    passages:",
            f"      - {scalar(draft.passage.text)}",
        ]
        if draft.variants:
            lines.append("    variants:")
            lines += [f"      - {scalar(v)}" for v in draft.variants]
        if draft.related:
            lines.append(f"    related: [{', '.join(draft.related)}]")
    return "\n".join(lines) + "\n"


def summary(result: ImportResult) -> str:
    """What the CLI prints after an import."""
    counts = [len(d.variants) for d in result.drafts]
    few = [d.id for d in result.drafts if len(d.variants) < MIN_VARIANTS]
    lines = [
        f"imported {result.folder} ({result.encoding}): {len(result.drafts)} draft entries, "
        f"{result.variants} question variants ({min(counts)}-{max(counts)} per entry), "
        f"{len(result.aliases)} alias group(s); {len(result.warnings)} warning(s).",
        f"Title: {result.title}",
    ]
    if result.dropped:
        lines.append(f"Left out {len(result.dropped)} variant(s) another entry would answer.")
    if few:
        lines.append(f"Fewer than {MIN_VARIANTS} variants (add some): {', '.join(few)}")
    lines.append(
        "Next: curate qa.yaml (questions, short answers), then remove each `draft: true`; "
        "run `python -m bot check` after every edit."
    )
    return "\n".join(lines)
