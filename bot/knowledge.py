"""Loading and validating the knowledge folder: articles, curated entries, aliases, chit-chat.

Every problem is reported with its file and line; a folder with any error yields no knowledge
at all, so that a caller can keep serving the last good one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.model import Article, Entry, EntryKind, Passage
from bot.normalise import compact

MAX_FILE_BYTES = 2 * 1024 * 1024
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
ENTRY_KEYS = {
    "id",
    "kind",
    "topic",
    "question",
    "answer",
    "passages",
    "variants",
    "related",
    "draft",
}
ENTRY_KINDS: tuple[EntryKind, ...] = ("fact", "gap", "chitchat")
CHITCHAT_FILE = "chitchat.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding of the loader or the checker, located by file and line."""

    file: Path
    line: int
    message: str
    entry: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        what = f"entry {self.entry}: {self.message}" if self.entry else self.message
        prefix = "" if self.severity == "error" else "warning: "
        return f"{where}: {prefix}{what}"


class KnowledgeError(Exception):
    """The knowledge folder has errors; `problems` says where and what."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Knowledge:
    """Everything loaded from one knowledge folder, validated and immutable."""

    root: Path
    articles: Mapping[str, Article]
    entries: tuple[Entry, ...]
    aliases: tuple[tuple[str, ...], ...]
    warnings: tuple[Problem, ...] = ()
    # the alias groups of each article (slug): they hold for that article's entries only,
    # so that one report's "大会" is not every report's
    article_aliases: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    by_id: Mapping[str, Entry] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {e.id: e for e in self.entries})

    @property
    def facts(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == "fact")


@dataclass
class _Source:
    """One YAML file as parsed, with the line of every node we need to point at."""

    path: Path
    data: Any
    node: yaml.Node | None


def load_knowledge(root: Path) -> Knowledge:
    """Load and validate `root`; raise KnowledgeError listing every error found."""
    knowledge, problems = scan_knowledge(root)
    if knowledge is None:
        raise KnowledgeError(problems)
    return knowledge


def scan_knowledge(root: Path) -> tuple[Knowledge | None, list[Problem]]:
    """Load `root`, returning the knowledge (None on any error) and every problem found."""
    problems: list[Problem] = []
    root = root.resolve()
    if not root.is_dir():
        return None, [Problem(root, 0, "knowledge folder not found")]
    articles: dict[str, Article] = {}
    entries: list[Entry] = []
    aliases: list[tuple[str, ...]] = []
    article_aliases: dict[str, list[tuple[str, ...]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not _inside(folder, root, problems):
            continue
        article = _load_article(folder, problems)
        if article is None:
            continue
        articles[article.slug] = article
        # qa.yaml first: its entries open the article (and are offered when nothing fits)
        for path in sorted(folder.glob("qa*.yaml"), key=lambda p: (p.name != "qa.yaml", p.name)):
            groups, found = _qa_file(path, root, article, problems)
            aliases.extend(groups)
            article_aliases.setdefault(article.slug, []).extend(groups)
            entries.extend(found)
    chitchat = root / CHITCHAT_FILE
    if chitchat.exists():
        entries.extend(_qa_file(chitchat, root, None, problems)[1])
    _check_across(entries, problems)
    if not articles and not any(p.severity == "error" for p in problems):
        problems.append(Problem(root, 0, "no article folder (expected <slug>/article.txt)"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    knowledge = Knowledge(
        root=root,
        articles=articles,
        entries=tuple(entries),
        aliases=tuple(aliases),
        warnings=tuple(problems),
        article_aliases={slug: tuple(groups) for slug, groups in article_aliases.items()},
    )
    return knowledge, problems


# the last good reading of each Q&A file: a digest of its text and of the article text it was
# checked against, and what came of it. A reload after an edit reads again only the files
# that changed (the entries are immutable, so a new knowledge may share them with the old).
_READ: dict[Path, tuple[bytes, _QA]] = {}


@dataclass(frozen=True)
class _QA:
    aliases: tuple[tuple[str, ...], ...]
    entries: tuple[Entry, ...]
    warnings: tuple[Problem, ...]


def _qa_file(
    path: Path, root: Path, article: Article | None, problems: list[Problem]
) -> tuple[tuple[tuple[str, ...], ...], tuple[Entry, ...]]:
    """The alias groups and entries of one Q&A file (of `article`, or small talk)."""
    text = _read_text(path, root, problems)
    if text is None:
        return (), ()
    digest = hashlib.blake2b(text.encode(), digest_size=20)
    if article is not None:
        digest.update(b"\0" + article.text.encode())
    known = _READ.get(path)
    if known is not None and known[0] == digest.digest():
        problems.extend(known[1].warnings)
        return known[1].aliases, known[1].entries
    mine: list[Problem] = []
    source = _parse_yaml(path, text, mine)
    if source is None:
        problems.extend(mine)
        return (), ()
    kind: EntryKind = "fact" if article is not None else "chitchat"
    groups = tuple(_aliases(source, mine)) if article is not None else ()
    found = tuple(_entries(source, article, kind, mine))
    problems.extend(mine)
    if all(p.severity != "error" for p in mine):
        _READ[path] = (digest.digest(), _QA(groups, found, tuple(mine)))
    return groups, found


def _inside(path: Path, root: Path, problems: list[Problem]) -> bool:
    """Refuse links that lead out of the knowledge folder."""
    try:
        path.resolve().relative_to(root)
    except ValueError:
        problems.append(Problem(path, 0, "refused: links outside the knowledge folder"))
        return False
    return True


def _read_text(path: Path, root: Path, problems: list[Problem]) -> str | None:
    if not _inside(path, root, problems):
        return None
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem(path, 0, f"file too large ({size} bytes, limit {MAX_FILE_BYTES})")
            )
            return None
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(path, 0, f"cannot read: {exc.strerror or exc}"))
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(path, line, "not valid UTF-8 (save the file as UTF-8)"))
        return None


def _read_yaml(path: Path, root: Path, problems: list[Problem]) -> _Source | None:
    text = _read_text(path, root, problems)
    return None if text is None else _parse_yaml(path, text, problems)


def _parse_yaml(path: Path, text: str, problems: list[Problem]) -> _Source | None:
    # libyaml's loader when PyYAML has it: the same safe nodes and marks, six times faster
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = _data(loader, node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        problems.append(Problem(path, line, f"YAML error: {what}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(path, 0, f"YAML error: {exc}"))
        return None
    finally:
        loader.dispose()
    return _Source(path, data, node)


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "seq", "map"))


def _data(loader: Any, node: yaml.Node) -> Any:
    """What the safe loader would construct from `node`. Q&A files are lists, mappings and
    strings: those are built here directly, three times faster than PyYAML's generic
    constructor, which builds everything else (numbers, dates, merge keys, errors)."""
    try:
        return _plain(loader, node)
    except TypeError:  # an unhashable key: the constructor says so, with its line
        return loader.construct_document(node)


def _plain(loader: Any, node: yaml.Node) -> Any:
    if node.tag == _STR and isinstance(node, yaml.ScalarNode):
        return node.value
    if node.tag == _SEQ and isinstance(node, yaml.SequenceNode):
        return [_plain(loader, item) for item in node.value]
    if node.tag == _MAP and isinstance(node, yaml.MappingNode):
        pairs = node.value
        if all(key.tag == _STR and isinstance(key, yaml.ScalarNode) for key, _ in pairs):
            return {key.value: _plain(loader, value) for key, value in pairs}
    return loader.construct_object(node, deep=True)


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _items(node: yaml.Node | None) -> list[yaml.Node | None]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _load_article(folder: Path, problems: list[Problem]) -> Article | None:
    text_path, meta_path = folder / "article.txt", folder / "meta.yaml"
    if not text_path.exists():
        if any(folder.glob("*.yaml")):
            problems.append(Problem(folder, 0, "article folder without article.txt"))
        return None
    root = folder.parent.resolve()
    text = _read_text(text_path, root, problems)
    meta = _read_yaml(meta_path, root, problems) if meta_path.exists() else None
    if text is None:
        return None
    data = meta.data if meta is not None and isinstance(meta.data, dict) else {}
    if meta is None and not meta_path.exists():
        problems.append(Problem(meta_path, 0, "missing meta.yaml (title, publisher, date)"))
    title = str(data.get("title") or folder.name)
    skip = data.get("coverage_skip_lines") or []
    return Article(
        slug=folder.name,
        title=title,
        short_title=str(data.get("short_title") or title),
        publisher=_opt_str(data.get("publisher")),
        date=_opt_str(data.get("date")),
        text=text.replace("\r\n", "\n"),
        path=text_path,
        coverage_skip_lines=tuple(int(n) for n in skip if isinstance(n, int)),
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _aliases(source: _Source, problems: list[Problem]) -> Iterator[tuple[str, ...]]:
    data = source.data if isinstance(source.data, dict) else {}
    groups = data.get("aliases") or []
    node = _child(source.node, "aliases")
    if not isinstance(groups, list):
        problems.append(Problem(source.path, _line(node), "aliases must be a list of lists"))
        return
    for group, group_node in zip(groups, _items(node) or [None] * len(groups), strict=False):
        if not (
            isinstance(group, list) and len(group) >= 2 and all(isinstance(x, str) for x in group)
        ):
            problems.append(
                Problem(source.path, _line(group_node), "an alias group is a list of 2+ names")
            )
            continue
        yield tuple(x.strip() for x in group)


def _entries(
    source: _Source, article: Article | None, default_kind: EntryKind, problems: list[Problem]
) -> Iterator[Entry]:
    path = source.path
    if source.data is None:
        return
    if not isinstance(source.data, dict):
        problems.append(Problem(path, _line(source.node), "expected a mapping with `entries:`"))
        return
    raw_entries = source.data.get("entries")
    entries_node = _child(source.node, "entries")
    if raw_entries is None:
        if "aliases" not in source.data:
            problems.append(Problem(path, _line(source.node), "no `entries:` list"))
        return
    if not isinstance(raw_entries, list):
        problems.append(Problem(path, _line(entries_node), "`entries:` must be a list"))
        return
    for raw, node in zip(raw_entries, _items(entries_node), strict=False):
        entry = _entry(raw, node, path, article, default_kind, problems)
        if entry is not None:
            yield entry


def _entry(
    raw: Any,
    node: yaml.Node | None,
    path: Path,
    article: Article | None,
    default_kind: EntryKind,
    problems: list[Problem],
) -> Entry | None:
    line = _line(node)
    if not isinstance(raw, dict):
        problems.append(
            Problem(path, line, "an entry must be a mapping (id, question, answer, ...)")
        )
        return None
    entry_id = raw.get("id")
    label = entry_id if isinstance(entry_id, str) else None
    before = len(problems)

    def bad(message: str, key: str | None = None) -> None:
        at = _line(_child(node, key)) if key else line
        problems.append(Problem(path, at or line, message, label))

    if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        bad("id must be lowercase letters, digits and '-', at most 24 characters", "id")
    for key in sorted(set(raw) - ENTRY_KEYS):
        bad(f"unknown key `{key}` (allowed: {', '.join(sorted(ENTRY_KEYS))})", key)
    kind = raw.get("kind", default_kind)
    if kind not in ENTRY_KINDS:
        bad(f"kind must be one of {', '.join(ENTRY_KINDS)}", "kind")
    if (kind == "chitchat") != (article is None):
        bad("chit-chat entries belong in chitchat.yaml, and only there", "kind")
    for key in ("question", "answer"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            bad(f"`{key}` is required and must be text", key)
    variants = _str_list(raw, "variants", node, path, label, problems)
    related = _str_list(raw, "related", node, path, label, problems)
    passages = _passages(raw, node, path, article, label, problems)
    if kind == "fact" and not raw.get("passages"):
        bad("a fact entry needs at least one passage from the article", "passages")
    topic = raw.get("topic")
    if topic is not None and not isinstance(topic, str):
        bad("`topic` must be text", "topic")
    if not isinstance(raw.get("draft", False), bool):
        bad("`draft` must be true or false", "draft")
    if len(problems) > before:
        return None
    return Entry(
        id=str(entry_id),
        kind=kind,
        question=raw["question"].strip(),
        answer=raw["answer"].strip(),
        passages=passages,
        variants=tuple(v.strip() for v in variants if v.strip()),
        article=article.slug if article else None,
        topic=topic,
        related=tuple(related),
        file=path,
        line=line,
        draft=bool(raw.get("draft", False)),
    )


def _str_list(
    raw: dict[str, Any],
    key: str,
    node: yaml.Node | None,
    path: Path,
    label: str | None,
    problems: list[Problem],
) -> list[str]:
    value = raw.get(key) or []
    child = _child(node, key)
    if not isinstance(value, list):
        problems.append(
            Problem(path, _line(child) or _line(node), f"`{key}` must be a list", label)
        )
        return []
    out = []
    for item, item_node in zip(value, _items(child), strict=False):
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            out.append(str(item))
        else:
            problems.append(Problem(path, _line(item_node), f"`{key}` items must be text", label))
    return out


def _passages(
    raw: dict[str, Any],
    node: yaml.Node | None,
    path: Path,
    article: Article | None,
    label: str | None,
    problems: list[Problem],
) -> tuple[Passage, ...]:
    texts = _str_list(raw, "passages", node, path, label, problems)
    if article is None:
        if texts:
            problems.append(Problem(path, _line(node), "chit-chat has no passages", label))
        return ()
    out = []
    for text, item_node in zip(texts, _items(_child(node, "passages")), strict=False):
        start = article.text.find(text) if text else -1
        if start < 0:
            hint = _closest(article.text, text)
            problems.append(
                Problem(
                    path,
                    _line(item_node),
                    f"passage not found in {article.slug}/article.txt"
                    + (f" (closest text there: {hint!r})" if hint else ""),
                    label,
                )
            )
            continue
        paragraph = article.text.count("\n", 0, start) + 1
        out.append(Passage(text=text, article=article.slug, paragraph=paragraph, start=start))
    return tuple(out)


def _closest(haystack: str, needle: str) -> str | None:
    """The stretch of the article most like a mistyped passage, to help the admin fix it."""
    from rapidfuzz import fuzz

    if not needle:
        return None
    found = fuzz.partial_ratio_alignment(needle, haystack)
    if found is None or found.score < 60:
        return None
    return haystack[found.dest_start : found.dest_end]


def _check_across(entries: list[Entry], problems: list[Problem]) -> None:
    """Rules that span entries: unique ids, unique variants, related ids that exist."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        first = seen.setdefault(entry.id, entry)
        if first is not entry:
            problems.append(
                Problem(
                    entry.file,
                    entry.line,
                    f"duplicate id (first defined at {first.file.name}:{first.line})",
                    entry.id,
                )
            )
    owner: dict[str, Entry] = {}
    for entry in entries:
        mine: set[str] = set()
        for text in entry.questions:
            key = compact(text)
            if not key:
                problems.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"variant {text!r} is empty once normalised",
                        entry.id,
                    )
                )
                continue
            other = owner.setdefault(key, entry)
            if other is not entry:
                problems.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"variant {text!r} is also a question of entry {other.id} "
                        f"({other.file.name}:{other.line})",
                        entry.id,
                    )
                )
            elif key in mine:
                problems.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"variant {text!r} is listed twice",
                        entry.id,
                        severity="warning",
                    )
                )
            mine.add(key)
    for entry in entries:
        for rel in entry.related:
            if rel not in seen:
                problems.append(
                    Problem(entry.file, entry.line, f"related id {rel!r} does not exist", entry.id)
                )
