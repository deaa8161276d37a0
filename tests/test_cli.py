"""The command-line contract: ask, ask --json, check, eval and the terminal chat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import KNOWLEDGE, ROOT

JSON_KEYS = {
    "id",
    "question",
    "kind",
    "answered",
    "answer",
    "passages",
    "entry",
    "score",
    "suggestions",
}


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=120,
    )


def test_ask_prints_a_readable_answer() -> None:
    result = run("ask", "谁主持了大会？")
    assert result.returncode == 0, result.stderr
    assert "王健" in result.stdout
    assert "出处" in result.stdout


def test_ask_json_stdin_keeps_order_ids_and_reports_bad_lines() -> None:
    lines = [
        '{"id": 7, "q": "谁主持了大会"}',
        "会议的预算是多少钱",
        "{not json",
        '{"id": "x"}',
        '{"id": [1], "q": "你好"}',
    ]
    result = run("ask", "--json", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 5
    first, second, bad_json, bad_shape, hello = records
    assert first.keys() >= JSON_KEYS
    assert first["id"] == 7 and first["kind"] == "answer" and first["answered"] is True
    assert "王健" in first["answer"] and first["entry"]
    article = (KNOWLEDGE / "wucheng-zuofeng" / "article.txt").read_text(encoding="utf-8")
    assert first["passages"] and all(p in article for p in first["passages"])
    assert second["id"] is None and second["kind"] == "none" and second["answered"] is False
    assert second["answer"] is None and second["passages"] == [] and second["suggestions"]
    assert "error" in bad_json and "error" in bad_shape and bad_shape["id"] == "x"
    assert hello["id"] == [1] and hello["kind"] == "chitchat" and hello["answered"] is False


def test_ask_json_with_question_argument() -> None:
    result = run("ask", "--json", "十项重点工作有哪些")
    record = json.loads(result.stdout)
    assert record["kind"] == "answer"
    for work in ("有效投入", "二七新村改造", "防旱抗旱", "三改一拆"):
        assert work in record["answer"]


def test_check_passes_on_shipped_knowledge() -> None:
    result = run("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("ok:")


def test_check_fails_with_file_and_line_on_a_broken_copy(knowledge_copy: Path) -> None:
    qa = knowledge_copy / "wucheng-zuofeng" / "qa-broken.yaml"
    qa.write_text(
        "entries:\n  - id: broken\n    question: 测试\n    answer: 测试\n"
        "    passages:\n      - 这句话不在报道里\n",
        encoding="utf-8",
    )
    result = run("check", "--knowledge", str(knowledge_copy))
    assert result.returncode == 1
    assert f"{qa}:6: entry broken: passage not found" in result.stdout


def test_knowledge_dir_from_environment(knowledge_copy: Path) -> None:
    (knowledge_copy / "wucheng-zuofeng" / "qa-broken.yaml").write_text(
        "entries: [\n", encoding="utf-8"
    )
    result = run("check", env={"BOT_KNOWLEDGE_DIR": str(knowledge_copy)})
    assert result.returncode == 1
    assert "qa-broken.yaml:" in result.stdout


def test_terminal_chat_without_token() -> None:
    result = run(stdin="谁主持了大会\n你好\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert "TELEGRAM_BOT_TOKEN" in result.stdout  # says why it is a terminal chat
    assert "王健" in result.stdout
    assert "再见" in result.stdout


def test_eval_prints_figures_and_failures() -> None:
    result = run("eval", "tests/eval/dev.yaml")
    assert result.returncode == 0, result.stderr
    assert "answerable answered correctly:" in result.stdout
    assert "unanswerable + chit-chat not answered:" in result.stdout
