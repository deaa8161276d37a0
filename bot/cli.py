"""Command line: run the bot (or the terminal chat), ask, check, eval, import.

`python -m bot` with TELEGRAM_BOT_TOKEN set runs the Telegram bot; without it, it opens a
chat in the terminal over the same answer pipeline.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from bot import messages
from bot.config import Settings
from bot.knowledge import KnowledgeError
from bot.match import Engine, build_engine
from bot.render import render_text


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = _parser(settings)
    args = parser.parse_args(argv)
    _reconfigure_stdio()
    command = args.command or ("run" if settings.token else "chat")
    try:
        if command == "ask":
            return _ask(args)
        if command == "check":
            return _check(args)
        if command == "eval":
            return _eval(args)
        if command == "chat":
            return _chat(args, explain=args.command is None)
        if command == "run":
            return _run(args, settings)
        if command == "import":
            return _import(args)
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        sys.stderr.close()
        return 0
    except KnowledgeError as exc:
        print(f"knowledge has errors ({len(exc.problems)}):", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    parser.error(f"unknown command {command}")
    return 2


def _parser(settings: Settings) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--knowledge",
        type=Path,
        default=settings.knowledge_dir,
        help="knowledge folder (default: $BOT_KNOWLEDGE_DIR, else knowledge/)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="会议问答: answers questions about a meeting from its news report.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", parents=[common], help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    sub.add_parser("chat", parents=[common], help="chat in the terminal")
    ask = sub.add_parser("ask", parents=[common], help="answer one question, or stdin lines")
    ask.add_argument("question", nargs="*", help="the question (none: one per line on stdin)")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    sub.add_parser("check", parents=[common], help="validate the knowledge folder")
    ev = sub.add_parser("eval", parents=[common], help="score an evaluation file")
    ev.add_argument("file", nargs="?", type=Path, default=Path("tests/eval/heldout.yaml"))
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    ev.add_argument("--quiet", action="store_true", help="figures only, no failure list")
    imp = sub.add_parser(
        "import", parents=[common], help="add an article: knowledge/SLUG/ with drafted questions"
    )
    imp.add_argument("file", type=Path, help="the report as plain text (UTF-8 or GB18030)")
    imp.add_argument("--slug", required=True, help="folder name: lowercase letters, digits, '-'")
    imp.add_argument("--title", help="the article's title (default: its first line)")
    return parser


def _reconfigure_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")


def _ask(args: argparse.Namespace) -> int:
    engine = build_engine(args.knowledge)
    if args.question:
        question = " ".join(args.question)
        answer = engine.ask(question)
        if args.json:
            _emit(answer.to_json(None))
        else:
            print(render_text(answer, engine.knowledge))
        return 0
    for request_id, question, error in _requests(sys.stdin):
        if error is not None:
            record: dict[str, Any] = {"id": request_id, "question": question, "error": error}
            _emit(record) if args.json else print(f"error: {error}")
            continue
        answer = engine.ask(question)
        if args.json:
            _emit(answer.to_json(request_id))
        else:
            print(render_text(answer, engine.knowledge) + "\n")
    return 0


def _requests(stream: TextIO) -> Iterator[tuple[Any, str, str | None]]:
    """(id, question, error) for every non-blank stdin line: plain text or {"id", "q"}."""
    for raw in stream:
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("{"):
            yield None, line, None
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield None, line, f"invalid JSON: {exc.msg} (column {exc.colno})"
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("q"), str):
            request_id = obj.get("id") if isinstance(obj, dict) else None
            yield request_id, line, 'expected an object with a text field "q"'
            continue
        yield obj.get("id"), obj["q"], None


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _check(args: argparse.Namespace) -> int:
    from bot.check import check
    from bot.segment import Segmenter, default_cache_dir

    knowledge, problems = check(args.knowledge, Segmenter(default_cache_dir()))
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.severity == "error"]
    if knowledge is None or errors:
        print(f"check failed: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
        return 1
    print(
        f"ok: {len(knowledge.articles)} article(s), {len(knowledge.facts)} answer entries, "
        f"{len(knowledge.entries) - len(knowledge.facts)} gap and chit-chat entries, "
        f"{sum(len(e.questions) for e in knowledge.entries)} questions; "
        f"{len(problems)} warning(s)"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluate import as_json, evaluate, format_report, load_items

    engine = build_engine(args.knowledge)
    report = evaluate(engine, load_items(args.file))
    if args.json:
        _emit(as_json(report))
    else:
        print(format_report(report, failures=not args.quiet))
    return 0


def _import(args: argparse.Namespace) -> int:
    from bot.importer import ImportRefused, import_article, summary

    try:
        result = import_article(args.file, args.slug, args.knowledge, title=args.title)
    except ImportRefused as exc:
        print(f"import refused: {exc}", file=sys.stderr)
        return 1
    for problem in result.warnings:
        print(problem)
    print(summary(result))
    return 0


def _chat(args: argparse.Namespace, *, explain: bool) -> int:
    from bot.chat import run_chat

    engine: Engine = build_engine(args.knowledge)
    if explain:
        print(messages.TERMINAL_WELCOME)
    return run_chat(engine, sys.stdin, sys.stdout)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run_bot
    from bot.logs import configure_logging

    # before anything can log: from here on no record carries the token
    configure_logging(settings.log_level, settings.secrets())
    try:
        return run_bot(settings, knowledge_dir=args.knowledge)
    except KnowledgeError:
        raise
    except Exception:
        # through the log (and its redaction), not as a bare traceback on stderr
        logging.getLogger("bot").exception("the bot stopped on an error")
        return 1
