"""Teaching a variant: one line added to the right file with every comment kept, validated
first, refused with a clear reason (duplicate, unknown entry, broken result), written atomically."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
import yaml

from bot import teach
from bot.check import check
from bot.files import atomic_write
from bot.knowledge import load_knowledge
from bot.segment import Segmenter
from bot.teach import TeachResult, add_variant, layout_problem, with_variant
from tests.conftest import KNOWLEDGE

ARTICLE = "wucheng-zuofeng"

EXTRA = """\
# Entries for the teach tests: shapes the shipped files do not have.
entries:
  - id: t-novariants
    question: 测试：谁主持会议？
    answer: 王健主持。
    passages:
      - 区委副书记、区长王健主持会议。   # the chair
    # the related ids
    related: [chair]

  - id: t-flow
    question: 测试二
    answer: 测试。
    passages: [区委副书记、区长王健主持会议。]
    variants: [测试二变体, 测试二别名]  # flow style

  - id: t-last
    question: 测试三
    answer: 测试。
    passages:
      - 区委副书记、区长王健主持会议。
# the end of the file
"""


def diff(before: str, after: str) -> list[tuple[str, list[str], list[str]]]:
    a, b = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [
        (tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def entry_before_section_comment(text: str) -> str:
    """The id of an entry that a `# ----` section heading follows (the hardest place to add)."""
    lines = text.splitlines()
    last_id = None
    for line in lines:
        if line.strip().startswith("- id:"):
            last_id = line.split(":", 1)[1].strip()
        elif line.strip().startswith("# ----") and last_id:
            return last_id
    raise AssertionError("no section heading after an entry")


@pytest.fixture
def extra(knowledge_copy: Path) -> Path:
    path = knowledge_copy / ARTICLE / "qa-extra.yaml"
    path.write_text(EXTRA, encoding="utf-8")
    return path


# ----- what gets written -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["first", "before-section", "last"])
def test_adds_exactly_one_line_and_keeps_every_comment(knowledge_copy: Path, which: str) -> None:
    path = knowledge_copy / ARTICLE / "qa.yaml"
    before = path.read_text(encoding="utf-8")
    ids = [e.id for e in load_knowledge(knowledge_copy).entries if e.file.name == "qa.yaml"]
    entry_id = {
        "first": ids[0],
        "before-section": entry_before_section_comment(before),
        "last": ids[-1],
    }[which]
    mode = path.stat().st_mode
    old_variants = load_knowledge(knowledge_copy).by_id[entry_id].variants

    result = add_variant(knowledge_copy, entry_id, "  这个问题  换个说法怎么问 ")

    assert result.ok, result.message
    assert result.question == "这个问题 换个说法怎么问"
    assert result.file == path.resolve()
    after = path.read_text(encoding="utf-8")
    changes = diff(before, after)
    assert len(changes) == 1
    tag, removed, added = changes[0]
    assert tag == "insert" and removed == [] and added == ["      - 这个问题 换个说法怎么问"]
    # the new line sits right under the entry's last variant
    lines = after.splitlines()
    at = lines.index(added[0])
    assert lines[at - 1].strip() == f"- {old_variants[-1]}"
    assert load_knowledge(knowledge_copy).by_id[entry_id].variants == (
        *old_variants,
        "这个问题 换个说法怎么问",
    )
    assert path.stat().st_mode == mode
    assert leftovers(path.parent) == []
    assert "已把“这个问题 换个说法怎么问”加为条目" in result.message


def test_entry_without_variants_gets_a_list_before_related(extra: Path) -> None:
    before = extra.read_text(encoding="utf-8")
    result = add_variant(extra.parent.parent, "t-novariants", "谁主持测试会议")
    assert result.ok, result.message
    after = extra.read_text(encoding="utf-8")
    assert diff(before, after) == [("insert", [], ["    variants:", "      - 谁主持测试会议"])]
    lines = after.splitlines()
    # the comment that introduces `related` still sits right above it
    assert lines[lines.index("    # the related ids") + 1] == "    related: [chair]"
    assert lines[lines.index("    # the related ids") - 1] == "      - 谁主持测试会议"


def test_flow_list_and_the_last_entry_of_a_file(extra: Path) -> None:
    root = extra.parent.parent
    before = extra.read_text(encoding="utf-8")
    assert add_variant(root, "t-flow", "测试二第三种问法").ok
    middle = extra.read_text(encoding="utf-8")
    [(tag, removed, added)] = diff(before, middle)
    assert tag == "replace" and removed == ["    variants: [测试二变体, 测试二别名]  # flow style"]
    # the end-of-line comment keeps its text (its column moves with the longer line)
    assert (
        " ".join(added[0].split())
        == "variants: [测试二变体, 测试二别名, 测试二第三种问法] # flow style"
    )
    assert add_variant(root, "t-last", "测试三的问法").ok
    after = extra.read_text(encoding="utf-8")
    assert diff(middle, after) == [("insert", [], ["    variants:", "      - 测试三的问法"])]
    assert after.endswith("      - 测试三的问法\n# the end of the file\n")


@pytest.mark.parametrize(
    "question",
    [
        "测试项: 谁主持?",
        "- 谁主持的测试",
        "# 号开头的问题",
        "'谁' 主持",
        "@机器人 谁主持",
        "yes",
        "2024",
        "null 是什么",
        "谁主持 #1",
    ],
)
def test_questions_that_need_yaml_quoting(extra: Path, question: str) -> None:
    result = add_variant(extra.parent.parent, "t-novariants", question)
    assert result.ok, result.message
    text = extra.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["entries"][0]["variants"] == [question]
    assert "\\u" not in text  # Chinese stays readable, even quoted


def test_bom_and_crlf_are_kept(extra: Path) -> None:
    extra.write_bytes(b"\xef\xbb\xbf" + EXTRA.replace("\n", "\r\n").encode("utf-8"))
    assert add_variant(extra.parent.parent, "t-flow", "测试二第四种问法").ok
    raw = extra.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") == raw.count(b"\n") == EXTRA.count("\n")


# ----- what gets refused -------------------------------------------------------------------------


def test_a_duplicate_of_any_entry_is_refused(knowledge_copy: Path) -> None:
    knowledge = load_knowledge(knowledge_copy)
    chair = knowledge.by_id["chair"]
    other = next(e for e in knowledge.facts if e.id != "chair")
    files = {p: p.read_bytes() for p in (knowledge_copy / ARTICLE).glob("*.yaml")}

    same = add_variant(knowledge_copy, "chair", chair.variants[0])
    assert same.outcome == "duplicate" and same.other_entry == "chair"
    assert "已经是条目 chair 的问法" in same.message

    # the same question in other clothes: punctuation, full width, traditional characters
    disguised = f"  {other.variants[0]}？！ "
    taken = add_variant(knowledge_copy, "chair", disguised)
    assert taken.outcome == "duplicate" and taken.other_entry == other.id
    assert f"已经是条目 {other.id} 的问法，不能同时加给 chair" in taken.message

    canonical = add_variant(knowledge_copy, "chair", other.question)
    assert canonical.outcome == "duplicate" and canonical.other_entry == other.id
    assert {p: p.read_bytes() for p in files} == files


def test_an_unknown_entry_is_refused(knowledge_copy: Path) -> None:
    result = add_variant(knowledge_copy, "no-such-entry", "随便问问")
    assert result.outcome == "unknown-entry" and not result.ok
    assert "没有 id 为 no-such-entry 的条目" in result.message


@pytest.mark.parametrize(
    ("question", "outcome"),
    [("", "empty"), (" ？？！ ", "empty"), ("😀", "empty"), ("问" * 201, "too-long")],
)
def test_empty_and_overlong_questions_are_refused(
    knowledge_copy: Path, question: str, outcome: str
) -> None:
    assert add_variant(knowledge_copy, "chair", question).outcome == outcome


def test_a_broken_result_is_refused_and_the_file_left_unchanged(
    knowledge_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = knowledge_copy / ARTICLE / "qa.yaml"
    before = path.read_bytes()

    def breaks_a_passage(text: str, entry_id: str, question: str) -> str:
        good = with_variant(text, entry_id, question)
        return good.replace(
            "      - 区委副书记、区长王健主持会议。", "      - 这句话不在报道里。", 1
        )

    monkeypatch.setattr(teach, "with_variant", breaks_a_passage)
    result = add_variant(knowledge_copy, "chair", "主持大会的是哪位")
    assert result.outcome == "invalid"
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []
    # the problems name the real file, not the temporary copy it was checked in
    assert result.problems and all(p.file == path.resolve() for p in result.problems)
    assert "passage not found" in result.message and "文件没有改动" in result.message


def test_refused_when_the_knowledge_is_already_broken(knowledge_copy: Path) -> None:
    (knowledge_copy / ARTICLE / "qa-broken.yaml").write_text("entries: [\n", encoding="utf-8")
    result = add_variant(knowledge_copy, "chair", "主持大会的是哪位")
    assert result.outcome == "broken-knowledge"
    assert "qa-broken.yaml" in result.message


def test_refused_when_the_file_changes_meanwhile(
    knowledge_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = knowledge_copy / ARTICLE / "qa.yaml"
    validate = teach._validate

    def someone_else_edits(*args: object) -> object:
        found = validate(*args)  # type: ignore[arg-type]
        path.write_text(path.read_text(encoding="utf-8") + "# an edit by hand\n", encoding="utf-8")
        return found

    monkeypatch.setattr(teach, "_validate", someone_else_edits)
    result = add_variant(knowledge_copy, "chair", "主持大会的是哪位")
    assert result.outcome == "changed"
    assert path.read_text(encoding="utf-8").endswith("# an edit by hand\n")


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "qa.yaml"
    path.write_bytes(b"old\n")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert list(tmp_path.iterdir()) == [path]


def test_result_messages_cover_every_outcome() -> None:
    outcomes = TeachResult.__annotations__  # every outcome has a message that formats
    assert "outcome" in outcomes
    for outcome in teach.TeachOutcome.__args__:  # type: ignore[attr-defined]
        text = TeachResult(outcome, "chair", "问法", file=Path("qa.yaml")).message
        assert text and "{" not in text


# ----- files /teach can edit ---------------------------------------------------------------------


def test_every_shipped_qa_file_can_be_taught_line_by_line() -> None:
    files = [*sorted(KNOWLEDGE.glob("**/qa*.yaml")), KNOWLEDGE / "chitchat.yaml"]
    assert len(files) >= 3
    assert [layout_problem(path) for path in files] == [None] * len(files)


def test_a_layout_teach_would_rewrite_is_a_check_warning_with_its_line(
    knowledge_copy: Path, segmenter: Segmenter
) -> None:
    qa = knowledge_copy / ARTICLE / "qa.yaml"
    lines = qa.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(k for k, line in enumerate(lines) if line.startswith("  - [")) + 1
    # a comment line just before an item with a comment at its end: the YAML editor drops it
    lines[at:at] = ["  # a note\n", "  - [甲乙丙, 丁戊己]   # and another\n"]
    qa.write_text("".join(lines), encoding="utf-8")
    _, problems = check(knowledge_copy, segmenter)
    found = [p for p in problems if "/teach" in p.message]
    assert [(p.file.name, p.line, p.severity) for p in found] == [("qa.yaml", at + 1, "warning")]
