"""The prebuilt index on disk: loaded only for exactly the files it was built from."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from bot.index import fingerprint, load_engine
from bot.knowledge import KnowledgeError
from bot.library import Library
from bot.match import Engine
from bot.segment import Segmenter

DEV = Path(__file__).resolve().parent / "eval" / "dev.yaml"
QUESTIONS = [item["q"] for item in yaml.safe_load(DEV.read_text(encoding="utf-8"))]


Outcome = tuple[str, str | None, float, tuple[str, ...]]


def outcomes(engine: Engine) -> list[Outcome]:
    out: list[Outcome] = []
    for question in QUESTIONS:
        answer = engine.ask(question)
        ids = tuple(e.id for e in (*answer.candidates, *answer.suggestions))
        out.append((answer.kind, answer.entry.id if answer.entry else None, answer.score, ids))
    return out


def test_a_built_index_is_loaded_next_time_and_answers_alike(
    knowledge_copy: Path, segmenter: Segmenter, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    built, loaded = load_engine(knowledge_copy, segmenter, folder)
    assert not loaded
    assert [p.name for p in folder.iterdir()] == [f"index-{fingerprint(knowledge_copy)}.pickle"]
    again, loaded = load_engine(knowledge_copy, segmenter, folder)
    assert loaded and again is not built
    assert outcomes(again) == outcomes(built)


def test_an_edit_builds_anew_and_replaces_the_old_index(
    knowledge_copy: Path, segmenter: Segmenter, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    load_engine(knowledge_copy, segmenter, folder)
    before = fingerprint(knowledge_copy)
    chitchat = knowledge_copy / "chitchat.yaml"
    chitchat.write_text(chitchat.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert fingerprint(knowledge_copy) != before
    engine, loaded = load_engine(knowledge_copy, segmenter, folder)
    assert not loaded
    assert [p.name for p in folder.iterdir()] == [f"index-{fingerprint(knowledge_copy)}.pickle"]
    assert engine.ask("谁主持了这次大会？").kind == "answer"


def test_swap_files_of_editors_do_not_change_the_fingerprint(knowledge_copy: Path) -> None:
    before = fingerprint(knowledge_copy)
    (knowledge_copy / "wucheng-zuofeng" / ".qa.yaml.swp").write_bytes(b"\x00junk")
    assert fingerprint(knowledge_copy) == before


def test_a_damaged_index_is_rebuilt(
    knowledge_copy: Path, segmenter: Segmenter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "index"
    load_engine(knowledge_copy, segmenter, folder)
    (index,) = folder.iterdir()
    index.write_bytes(index.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="bot.index"):
        engine, loaded = load_engine(knowledge_copy, segmenter, folder)
    assert not loaded and "unreadable" in caplog.text
    assert engine.ask("谁主持了这次大会？").kind == "answer"
    assert load_engine(knowledge_copy, segmenter, folder)[1]  # written again, whole


def test_broken_knowledge_raises_even_with_an_old_index(
    knowledge_copy: Path, segmenter: Segmenter, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    load_engine(knowledge_copy, segmenter, folder)
    qa = knowledge_copy / "wucheng-zuofeng" / "qa.yaml"
    qa.write_text(qa.read_text(encoding="utf-8") + "\n  - id: [broken\n", encoding="utf-8")
    with pytest.raises(KnowledgeError):
        load_engine(knowledge_copy, segmenter, folder)


def test_the_library_starts_from_the_index_and_reports_the_same(
    knowledge_copy: Path, segmenter: Segmenter, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    first = Library(knowledge_copy, segmenter, folder)
    built = first.reload()
    assert built.ok and list(folder.iterdir())
    second = Library(knowledge_copy, segmenter, folder)
    started = second.reload()
    assert started.ok
    assert started.problems == built.problems and started.uncovered == built.uncovered
    assert outcomes(second.engine) == outcomes(first.engine)
    # a broken edit: the first load of a new process reports it, file and line, and serves
    # nothing rather than the stale index
    qa = knowledge_copy / "wucheng-zuofeng" / "qa.yaml"
    qa.write_text(qa.read_text(encoding="utf-8") + "\n  - id: [broken\n", encoding="utf-8")
    third = Library(knowledge_copy, segmenter, folder)
    failed = third.reload()
    assert not failed.ok and any(p.file.name == "qa.yaml" and p.line for p in failed.errors)
