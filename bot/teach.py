"""Teaching the bot a new way to ask: add a question variant to an entry in its YAML file.

The file keeps its comments and layout (one line is added), the knowledge folder is validated
with the change before the file is touched, and the file is replaced atomically.
"""

from __future__ import annotations

import copy
import difflib
import io
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from bot import admin_messages as msg
from bot.files import atomic_write
from bot.knowledge import Problem, scan_knowledge
from bot.normalise import MAX_QUESTION_CHARS, compact

TeachOutcome = Literal[
    "added",
    "empty",
    "too-long",
    "unknown-entry",
    "duplicate",
    "broken-knowledge",
    "invalid",
    "layout",
    "changed",
    "write-failed",
]
# keys of an entry that come after `variants` in our files: a new `variants:` goes before them
_AFTER_VARIANTS = ("related",)


class LayoutError(Exception):
    """The variant cannot be added to this file without changing more than one line."""


@dataclass(frozen=True)
class TeachResult:
    """What `add_variant` did, and why not when it did nothing."""

    outcome: TeachOutcome
    entry_id: str
    question: str
    file: Path | None = None
    other_entry: str | None = None
    problems: tuple[Problem, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "added"

    @property
    def message(self) -> str:
        """One plain-text message for the admin (escape it before sending it as HTML)."""
        name = self.file.name if self.file else ""
        problems = "\n".join(str(p) for p in self.problems[:5])
        if len(self.problems) > 5:
            problems += f"\n…（共 {len(self.problems)} 处）"
        texts: dict[TeachOutcome, str] = {
            "added": msg.TEACH_ADDED,
            "empty": msg.TEACH_EMPTY,
            "too-long": msg.TEACH_TOO_LONG,
            "unknown-entry": msg.TEACH_UNKNOWN_ENTRY,
            "duplicate": (
                msg.TEACH_DUPLICATE_SAME
                if self.other_entry == self.entry_id
                else msg.TEACH_DUPLICATE_OTHER
            ),
            "broken-knowledge": msg.TEACH_KNOWLEDGE_BROKEN,
            "invalid": msg.TEACH_INVALID,
            "layout": msg.TEACH_LAYOUT,
            "changed": msg.TEACH_CHANGED,
            "write-failed": msg.TEACH_WRITE_FAILED,
        }
        return texts[self.outcome].format(
            question=self.question,
            entry=self.entry_id,
            other=self.other_entry or "",
            file=name,
            limit=MAX_QUESTION_CHARS,
            problems=problems,
            error=self.error,
        )


def add_variant(knowledge_dir: Path, entry_id: str, question: str) -> TeachResult:
    """Add `question` as a variant of entry `entry_id`, in the file that defines the entry.

    Blocking (it reads, validates and writes files): call it through asyncio.to_thread.
    """
    question = " ".join(question.split())  # one line, single spaces
    result = TeachResult("added", entry_id, question)
    if not compact(question):
        return replace(result, outcome="empty")
    if len(question) > MAX_QUESTION_CHARS:
        return replace(result, outcome="too-long")
    root = knowledge_dir.resolve()
    knowledge, problems = scan_knowledge(root)
    if knowledge is None:
        return replace(result, outcome="broken-knowledge", problems=_errors(problems))
    entry = knowledge.by_id.get(entry_id)
    if entry is None:
        return replace(result, outcome="unknown-entry")
    path = entry.file
    result = replace(result, file=path)
    key = compact(question)
    for other in knowledge.entries:
        if any(compact(q) == key for q in other.questions):
            return replace(result, outcome="duplicate", other_entry=other.id)

    before = path.read_bytes()
    text, encode = _decode(before)
    try:
        after = encode(with_variant(text, entry_id, question))
    except LayoutError as exc:
        return replace(result, outcome="layout", error=str(exc))

    invalid = _validate(root, path, after, entry_id, question)
    if invalid:
        return replace(result, outcome="invalid", problems=invalid)
    # A cheap guard against a concurrent edit: refuse if the file changed since we read it.
    if path.read_bytes() != before:
        return replace(result, outcome="changed")
    try:
        atomic_write(path, after)
    except OSError as exc:
        return replace(result, outcome="write-failed", error=exc.strerror or str(exc))
    return result


def _errors(problems: list[Problem]) -> tuple[Problem, ...]:
    return tuple(p for p in problems if p.severity == "error")


def _decode(raw: bytes) -> tuple[str, Any]:
    """The file's text, and how to encode a new text the same way (BOM, line endings)."""
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    crlf = "\r\n" in text
    if crlf:
        text = text.replace("\r\n", "\n")

    def encode(new: str) -> bytes:
        if crlf:
            new = new.replace("\n", "\r\n")
        return (b"\xef\xbb\xbf" if bom else b"") + new.encode("utf-8")

    return text, encode


def _validate(
    root: Path, path: Path, content: bytes, entry_id: str, question: str
) -> tuple[Problem, ...]:
    """Load a copy of the knowledge folder with the new file; return its errors (none: ok)."""
    with tempfile.TemporaryDirectory(prefix="teach-") as tmp:
        copy_root = Path(tmp) / root.name
        shutil.copytree(root, copy_root)
        (copy_root / path.relative_to(root)).write_bytes(content)
        knowledge, problems = scan_knowledge(copy_root)
        copy_resolved = copy_root.resolve()

        def back(problem: Problem) -> Problem:
            try:
                return replace(problem, file=root / problem.file.relative_to(copy_resolved))
            except ValueError:
                return problem

        errors = tuple(back(p) for p in _errors(problems))
    if errors:
        return errors
    entry = knowledge.by_id.get(entry_id) if knowledge else None
    if entry is None or question not in entry.variants:
        return (Problem(path, 0, f"the new variant {question!r} did not load back", entry_id),)
    return ()


# ----- the YAML edit -----------------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    # our files: mappings indented by 2, sequence dashes indented by 2 under their key
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def layout_problem(path: Path) -> Problem | None:
    """A warning when /teach could not add a line to this file without changing others: the
    YAML editor would rewrite it (a comment line just before an item that has a comment at
    its end is the usual cause), so every /teach there is refused."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        out = io.StringIO()
        yaml = _yaml()
        yaml.dump(yaml.load(text), out)
    except Exception:  # whatever is wrong with the file, the loader reports it
        return None
    if out.getvalue() == text:
        return None
    old, new = text.splitlines(), out.getvalue().splitlines()
    line = next((k for k, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(new))
    return Problem(
        path,
        line + 1,
        "/teach cannot add a question to this file without rewriting it from here (move a "
        "comment at the end of the next line onto a line of its own)",
        severity="warning",
    )


def with_variant(text: str, entry_id: str, question: str) -> str:
    """The YAML text with `question` appended to the variants of entry `entry_id`; every other
    line unchanged (raises LayoutError when that cannot be done)."""
    yaml = _yaml()
    data = yaml.load(text)
    entries = data.get("entries") if isinstance(data, CommentedMap) else None
    entry = next(
        (e for e in entries or () if isinstance(e, CommentedMap) and e.get("id") == entry_id),
        None,
    )
    if entry is None:
        raise LayoutError(f"entry {entry_id} not found in the file")
    question = _scalar(question)
    variants = entry.get("variants")
    if isinstance(variants, CommentedSeq):
        if variants.fa.flow_style():
            variants.append(question)
        else:
            moved = _detach_trailing(variants)
            variants.append(question)
            _attach(variants, moved)
    elif variants is None:
        _add_variants_key(entry, question)
    else:
        raise LayoutError("`variants` is not a list")
    out = io.StringIO()
    yaml.dump(data, out)
    new = out.getvalue()
    _check_one_line(text, new)
    return new


def _scalar(question: str) -> str:
    """The question as ruamel should write it: quoted when the loader (PyYAML, YAML 1.1) would
    read the plain form as anything but this text (`yes`, `null`, `1:2`, `# x`)."""
    import yaml as pyyaml

    try:
        plain_ok = pyyaml.safe_load(question) == question
    except pyyaml.YAMLError:
        plain_ok = False
    return question if plain_ok else DoubleQuotedScalarString(question)


def _add_variants_key(entry: CommentedMap, question: str) -> None:
    """Give an entry without variants a `variants:` list, before `related` if it has one."""
    seq = CommentedSeq([question])
    keys = list(entry.keys())
    if "variants" in entry:  # `variants:` with no value
        position = keys.index("variants")
        del entry["variants"]
        keys.remove("variants")
    else:
        later = [keys.index(k) for k in _AFTER_VARIANTS if k in keys]
        position = min(later) if later else len(keys)
    if position > 0:
        moved = _detach_trailing_of_key(entry, keys[position - 1])
        _attach(seq, moved)
    entry.insert(position, "variants", seq)


def _trailing_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment after the last line of a node (its deepest last child)."""
    if isinstance(node, CommentedMap) and node:
        return _trailing_slot_of_key(node, list(node.keys())[-1])
    if isinstance(node, CommentedSeq) and node:
        last = len(node) - 1
        slot = node.ca.items.get(last)
        if slot and slot[0] is not None:
            return slot, 0
        return _trailing_slot(node[last])
    return None


def _trailing_slot_of_key(node: CommentedMap, key: Any) -> tuple[list[Any], int] | None:
    slot = node.ca.items.get(key)
    if slot and len(slot) > 2 and slot[2] is not None:
        return slot, 2
    return _trailing_slot(node[key])


def _detach_trailing(node: Any) -> Any:
    return _detach(_trailing_slot(node))


def _detach_trailing_of_key(node: CommentedMap, key: Any) -> Any:
    return _detach(_trailing_slot_of_key(node, key))


def _detach(found: tuple[list[Any], int] | None) -> Any:
    """Split off the comment lines that follow a node (a section heading, blank lines) and
    return them, leaving the node its own end-of-line comment; they must follow the new line."""
    if found is None:
        return None
    slot, index = found
    token = slot[index]
    value: str = token.value
    if value.startswith("#"):
        own, _, rest = value.partition("\n")
        if not rest:
            return None
        moved = copy.copy(token)
        moved.value = "\n" + rest
        token.value = own + "\n"
        return moved
    slot[index] = None
    return token


def _attach(seq: CommentedSeq, token: Any) -> None:
    if token is not None:
        seq.ca.items[len(seq) - 1] = [token, None, None, None]


def _check_one_line(old: str, new: str) -> None:
    """Refuse any edit other than the variant's own line going in (two with a new key)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = [
        op
        for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if len(ops) == 1:
        tag, i1, i2, j1, j2 = ops[0]
        if tag == "insert" and j2 - j1 in (1, 2):
            return
        if tag == "replace" and i2 - i1 == 1 and j2 - j1 == 1:  # a flow list: [a, b, new]
            return
    raise LayoutError("the file would change in more places than the new line")
