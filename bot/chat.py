"""The terminal chat: the same answer pipeline as the bot, for a machine with no token."""

from __future__ import annotations

from typing import TextIO

from bot import messages
from bot.match import Engine
from bot.render import render_text

QUIT = {"/quit", "/exit", "quit", "exit", "退出"}


def run_chat(engine: Engine, stdin: TextIO, stdout: TextIO) -> int:
    """Read questions line by line and print each answer until /quit or end of input."""
    last = None
    while True:
        if stdin.isatty():
            stdout.write("\n问> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        if question in QUIT:
            break
        # a bare number picks one of the options the previous reply offered
        if last is not None and question.isdigit():
            offered = last.candidates or last.suggestions
            index = int(question) - 1
            if 0 <= index < len(offered):
                question = offered[index].question
        last = engine.ask(question)
        stdout.write(render_text(last, engine.knowledge) + "\n")
        stdout.flush()
    stdout.write(messages.TERMINAL_BYE + "\n")
    return 0
