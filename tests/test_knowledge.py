"""The loader and the check: the shipped knowledge passes; broken copies fail with file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.check import check
from bot.knowledge import MAX_FILE_BYTES, Problem, load_knowledge, scan_knowledge
from bot.segment import Segmenter

from .conftest import KNOWLEDGE

ARTICLE = "wucheng-zuofeng"

GOOD_ENTRY = """\
entries:
  - id: test-chair
    question: 测试：谁主持？
    answer: 王健主持。
    passages:
      - 区委副书记、区长王健主持会议。
    variants:
      - 测试主持人
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / ARTICLE / name
    path.write_text(text, encoding="utf-8")
    return path


def errors(root: Path) -> list[Problem]:
    knowledge, problems = scan_knowledge(root)
    found = [p for p in problems if p.severity == "error"]
    assert knowledge is None, "a folder with errors must yield no knowledge"
    assert found
    return found


def test_shipped_knowledge_passes_the_full_check(segmenter: Segmenter) -> None:
    knowledge, problems = check(KNOWLEDGE, segmenter)
    assert knowledge is not None
    assert [str(p) for p in problems if p.severity == "error"] == []
    assert len(knowledge.facts) >= 60


def test_every_passage_is_an_exact_excerpt_of_its_article() -> None:
    knowledge = load_knowledge(KNOWLEDGE)
    for entry in knowledge.entries:
        for passage in entry.passages:
            text = knowledge.articles[passage.article].text
            assert text[passage.start : passage.start + len(passage.text)] == passage.text


def test_article_copy_is_verbatim() -> None:
    seed = KNOWLEDGE.parent.parent / "shared" / "seed-article.txt"
    if not seed.exists():
        pytest.skip("shared/seed-article.txt is not beside the checkout")
    assert (KNOWLEDGE / ARTICLE / "article.txt").read_bytes() == seed.read_bytes()


def test_good_extra_file_loads(knowledge_copy: Path) -> None:
    write(knowledge_copy, "qa-extra.yaml", GOOD_ENTRY)
    knowledge = load_knowledge(knowledge_copy)
    entry = knowledge.by_id["test-chair"]
    assert entry.passages[0].paragraph == 4
    assert entry.line == 2


def test_yaml_syntax_error_names_file_and_line(knowledge_copy: Path) -> None:
    path = write(
        knowledge_copy,
        "qa-extra.yaml",
        GOOD_ENTRY.replace("    answer: 王健主持。", "    answer: [王健"),
    )
    (problem,) = errors(knowledge_copy)
    assert problem.file == path.resolve()
    assert problem.line in (5, 6)
    assert "YAML error" in problem.message


def test_passage_not_in_article_points_at_the_passage_line(knowledge_copy: Path) -> None:
    write(
        knowledge_copy, "qa-extra.yaml", GOOD_ENTRY.replace("区长王健主持会议", "区长王建主持会议")
    )
    (problem,) = errors(knowledge_copy)
    assert (problem.line, problem.entry) == (6, "test-chair")
    assert "passage not found" in problem.message
    assert "王健主持会议" in problem.message  # the closest stretch of the article, as a hint


def test_duplicate_id_and_shared_variant_are_errors(knowledge_copy: Path) -> None:
    second = GOOD_ENTRY.split("entries:\n", 1)[1]
    write(knowledge_copy, "qa-extra.yaml", GOOD_ENTRY + second)
    messages = [p.message for p in errors(knowledge_copy)]
    assert any("duplicate id" in m for m in messages)
    assert any("also a question of entry test-chair" in m for m in messages)


def test_unknown_key_and_missing_related_are_errors(knowledge_copy: Path) -> None:
    second = GOOD_ENTRY.split("entries:\n", 1)[1].replace("test-chair", "test-two")
    second = second.replace("测试主持人", "测试二").replace("测试：谁主持？", "测试二？")
    text = GOOD_ENTRY + "    anwser: typo\n" + second + "    related: [no-such-entry]\n"
    write(knowledge_copy, "qa-extra.yaml", text)
    found = errors(knowledge_copy)
    assert {p.line for p in found if "unknown key `anwser`" in p.message} == {9}
    missing = [p for p in found if "related id 'no-such-entry' does not exist" in p.message]
    assert [(p.entry, p.line) for p in missing] == [("test-two", 10)]


def test_python_tags_never_run(knowledge_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(
        knowledge_copy,
        "qa-extra.yaml",
        f'entries: !!python/object/apply:os.system ["touch {marker}"]\n',
    )
    (problem,) = errors(knowledge_copy)
    assert problem.line == 1 and "YAML error" in problem.message
    assert not marker.exists()


def test_wrong_encoding_is_reported(knowledge_copy: Path) -> None:
    path = knowledge_copy / ARTICLE / "qa-extra.yaml"
    path.write_bytes(GOOD_ENTRY.encode("gb18030"))
    (problem,) = errors(knowledge_copy)
    assert "not valid UTF-8" in problem.message and problem.line >= 1


def test_oversized_file_is_refused_unread(knowledge_copy: Path) -> None:
    path = knowledge_copy / ARTICLE / "qa-extra.yaml"
    path.write_text(GOOD_ENTRY + "#" * MAX_FILE_BYTES, encoding="utf-8")
    (problem,) = errors(knowledge_copy)
    assert problem.file == path and "file too large" in problem.message


def test_links_out_of_the_folder_are_refused(knowledge_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(GOOD_ENTRY, encoding="utf-8")
    os.symlink(outside, knowledge_copy / ARTICLE / "qa-extra.yaml")
    (problem,) = errors(knowledge_copy)
    assert "outside the knowledge folder" in problem.message


def test_uncovered_sentences_are_warnings(knowledge_copy: Path, segmenter: Segmenter) -> None:
    for path in (knowledge_copy / ARTICLE).glob("qa*.yaml"):
        path.unlink()
    write(knowledge_copy, "qa.yaml", GOOD_ENTRY)
    knowledge, problems = check(knowledge_copy, segmenter)
    assert knowledge is not None
    uncovered = [p for p in problems if "no entry covers" in p.message]
    assert uncovered and all(p.severity == "warning" for p in uncovered)
    assert not any("区长王健主持会议" in p.message for p in uncovered)
