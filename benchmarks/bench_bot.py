"""End-to-end benchmark of the bot: questions per second answered through the real PTB
Application and our fake Bot API server, with our rate limiter on (as production runs it) and,
for comparison, with its cap lifted.

    .venv/bin/python benchmarks/bench_bot.py            # about 2 minutes
    .venv/bin/python benchmarks/bench_bot.py --quick    # under 40 seconds
    .venv/bin/python benchmarks/bench_bot.py --questions 500 --json bot.json

The fake server (tests/fake_bot_api.py) runs in this process on 127.0.0.1, with no fault
injected and no delay set (it has no flood limits of its own). The bot runs in a child process,
configured from the environment as in production (TELEGRAM_BASE_URL points at the server) and
built by `build_application`, so that its CPU time is its own and the server does not compete
with it for one interpreter. Each question is a private-chat text from a user of its own, so
the per-user limit (bot/flood.py, 20 a minute) never applies; replies that are the note to slow
down are counted all the same. Timings are the server's: when getUpdates handed each update
out, and when each sendMessage arrived.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import os
import platform
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, without installing
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_answer import (  # noqa: E402  (shared with the engine benchmark)
    _loadavg,
    _num,
    _progress,
    _table,
    _workdir,
)

# Telegram's overall limit, which bot/delivery.py keeps to (its MESSAGES_PER_SECOND)
TELEGRAM_PER_SECOND = 30
# the paced run offers questions at this rate: well under the cap, so nothing queues
PACED_PER_SECOND = 10
# environment variables of the bot that must not leak into the child from this shell
BOT_ENV_PREFIXES = ("TELEGRAM_", "BOT_", "WEBHOOK_")
BOT_ENV_NAMES = ("ADMIN_IDS", "LOG_LEVEL", "PORT")
# user ids of the benchmark's askers: far from those the tests use
FIRST_USER_ID = 7_000_000


# ----- run settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One measured run: `questions` questions, all at once (a burst) or `paced` a second."""

    name: str
    questions: int
    paced: float | None = None

    def budget(self, limiter: bool) -> float:
        """Seconds the phase may take before it is cut: three times what the cap allows, plus
        a twentieth of a second a question, plus 15 s; a paced run, its pace plus 15 s."""
        if self.paced:
            return self.questions / self.paced + 15
        floor = self.questions / TELEGRAM_PER_SECOND if limiter else 0.0
        return 3 * floor + self.questions / 20 + 15


@dataclass(frozen=True)
class Mode:
    """One bot process: the limiter as production runs it, or with its cap lifted."""

    name: str
    limiter: bool
    phases: tuple[Phase, ...]


def make_modes(args: argparse.Namespace) -> tuple[Mode, ...]:
    quick = args.quick
    on = args.questions or (240 if quick else 1200)
    off = args.questions or (600 if quick else 2000)
    paced = 40 if quick else 100
    return (
        Mode(
            "limiter on",
            True,
            (
                Phase("limiter on, burst", on),
                Phase(f"limiter on, paced {PACED_PER_SECOND}/s", paced, PACED_PER_SECOND),
            ),
        ),
        Mode("limiter off", False, (Phase("limiter off, burst", off),)),
    )


# ----- the server -----------------------------------------------------------------------------


def fake_server_class(nodelay: bool = True) -> type[Any]:
    """FakeBotApi, also noting when each update was first handed out and every HTTP status.

    With `nodelay`, Nagle's algorithm is off on the server's side of each connection. The fake
    leaves it on and writes an answer's headers and its body in two sends, so on a kept-alive
    connection the body waits for the client's delayed ACK: about 40 ms on Linux, on every
    request. Real Bot API servers answer at once; `--nagle` measures the fake as it is.
    """
    from tests.fake_bot_api import FakeBotApi

    class TimedBotApi(FakeBotApi):
        def __init__(self) -> None:
            super().__init__()
            self.handed_out: dict[int, float] = {}
            self.statuses: Counter[int] = Counter()
            self._status_lock = threading.Lock()

        def _api_getUpdates(self, params: dict[str, Any]) -> Any:
            updates = super()._api_getUpdates(params)
            now = time.monotonic()
            for update in updates:  # PTB may fetch an update again; the first time counts
                self.handed_out.setdefault(update["update_id"], now)
            return updates

        def _serve(self, request: BaseHTTPRequestHandler) -> None:
            if nodelay:
                with contextlib.suppress(OSError):
                    request.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # the handler serves every request of its connection: wrap the class's method,
            # not the last request's wrapper
            send_response = type(request).send_response

            def counted(code: int, message: str | None = None) -> None:
                with self._status_lock:
                    self.statuses[code] += 1
                send_response(request, code, message)

            request.send_response = counted  # type: ignore[method-assign]
            super()._serve(request)

        def status_counts(self) -> Counter[int]:
            with self._status_lock:
                return Counter(self.statuses)

    return TimedBotApi


# ----- the bot, in a child process ------------------------------------------------------------


def worker(spec: dict[str, Any]) -> None:
    """Run the bot against the server in `spec`; answer the parent's commands on stdin.

    `wait N SECONDS`: report (JSON on stdout) once N updates are handled in all, or the time
    is up, with this process's CPU time; `stop`: shut the bot down and report the last figures.
    """
    import asyncio

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if not spec["limiter"]:
        import bot.delivery

        # the same Delivery on the same path, with a cap it never reaches: it never waits
        bot.delivery.MESSAGES_PER_SECOND = 1_000_000
    asyncio.run(_serve_bot(spec))


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _emit(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


async def _serve_bot(spec: dict[str, Any]) -> None:
    import asyncio

    from telegram import Update
    from telegram.ext import ApplicationHandlerStop, TypeHandler

    from bot.app import ALLOWED_UPDATES, GATE_GROUP, build_application, post_init, post_shutdown
    from bot.config import Settings
    from bot.delivery import Delivery
    from bot.segment import Segmenter

    started = time.perf_counter()
    settings = Settings.from_env()
    app = build_application(
        settings, settings.knowledge_dir, segmenter=Segmenter(Path(spec["cache_dir"]))
    )
    handled: set[int] = set()
    target = {"count": 0}
    reached = asyncio.Event()

    def mark(update_id: int) -> None:
        handled.add(update_id)
        if len(handled) >= target["count"]:
            reached.set()

    async def last(update: Update, context: object) -> None:
        mark(update.update_id)

    # the gate may stop an update (a flood): that update is handled too
    for handler in app.handlers.get(GATE_GROUP, []):
        callback = handler.callback

        async def gate(update: Update, context: Any, callback: Any = callback) -> Any:
            try:
                return await callback(update, context)
            except ApplicationHandlerStop:
                mark(update.update_id)
                raise

        handler.callback = gate
    # the last group runs once every other handler (and the error handler) is done
    app.add_handler(TypeHandler(Update, last), group=99)

    await app.initialize()
    assert app.updater is not None
    try:
        await post_init(app)
        # as run_polling starts it (its defaults: no pause between polls, 10 s long polls)
        await app.updater.start_polling(
            poll_interval=0.0, timeout=10, allowed_updates=ALLOWED_UPDATES
        )
        await app.start()
        _emit("ready", startup_s=time.perf_counter() - started, cpu_s=_cpu())
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not line or line[0] == "stop":
                break
            count, seconds = int(line[1]), float(line[2])
            target["count"] = count
            reached.clear()
            if len(handled) < count:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reached.wait(), seconds)
            _emit("handled", count=len(handled), cpu_s=_cpu())
    finally:
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await post_shutdown(app)
    delivery = app.bot.rate_limiter
    retries = delivery.retries if isinstance(delivery, Delivery) else 0
    _emit("stopped", cpu_s=_cpu(), retries=retries)


class Child:
    """The bot's process, seen from here: commands in, JSON events out, stderr to a file."""

    def __init__(self, spec_file: Path, env: dict[str, str], err_file: Path) -> None:
        self.err_file = err_file
        with err_file.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--worker", str(spec_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=ROOT,
                env=env,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()

    def event(self, name: str, seconds: float) -> dict[str, Any]:
        """The next event called `name`; RuntimeError if the child ends or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"no {name!r} from the bot within {seconds:.0f} s") from None
            if line is None:
                raise RuntimeError(f"the bot ended before {name!r}: {self.stderr_tail()}")
            with contextlib.suppress(json.JSONDecodeError):
                data = json.loads(line)
                if isinstance(data, dict) and data.get("event") == name:
                    return data

    def stderr_tail(self, lines: int = 3) -> str:
        text = self.err_file.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) if text else "(no output)"

    def warnings(self) -> list[str]:
        """The bot's log lines at WARNING and above (it logs nothing below)."""
        text = self.err_file.read_text(errors="replace").splitlines()
        return [line for line in text if line.startswith(("WARNING", "ERROR", "CRITICAL"))]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


# ----- measuring ------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """What one phase measured; `cut` says why it is incomplete, if it is."""

    name: str
    limiter: bool
    questions: int
    paced: float | None
    answered: int = 0
    messages: int = 0
    wall_s: float = 0.0
    replies_per_s: float = 0.0
    messages_per_s: float = 0.0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    bot_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    slow_down_notes: int = 0
    http_errors: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    cut: str | None = None


def percentile_ms(seconds: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of durations in seconds, in milliseconds."""
    if not seconds:
        return math.nan
    ordered = sorted(seconds)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] * 1000


def run_phase(
    api: Any, child: Child, phase: Phase, limiter: bool, questions: Sequence[str], users: Any
) -> PhaseResult:
    """Offer the phase's questions, wait until the bot has handled them all, read the server."""
    from bot import messages
    from tests.fake_bot_api import make_user, private_chat

    result = PhaseResult(phase.name, limiter, phase.questions, phase.paced)
    # built beforehand, so that the clock times the bot and not the building
    updates, chats = [], {}
    for k in range(phase.questions):
        user = make_user(next(users), f"用户{k}")
        update = api.text_message(private_chat(user), user, questions[k % len(questions)])
        updates.append(update)
    statuses_before = api.status_counts()
    calls_before = len(api.calls)
    child.send("wait 0 0")  # only for the bot's CPU time so far
    handled_before = child.event("handled", 30)
    cpu_before, server_cpu_before = handled_before["cpu_s"], time.process_time()

    t0 = time.monotonic()
    deadline = t0 + phase.budget(limiter)
    for k, update in enumerate(updates):
        if phase.paced:
            pause = t0 + k / phase.paced - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        api.push(update)
        chats[update["message"]["chat"]["id"]] = update["update_id"]
    want = handled_before["count"] + phase.questions
    child.send(f"wait {want} {max(1.0, deadline - time.monotonic()):.1f}")
    done = child.event("handled", max(1.0, deadline - time.monotonic()) + 30)
    server_cpu = time.process_time() - server_cpu_before
    if done["count"] < want:
        result.cut = f"cut at {phase.budget(limiter):.0f} s: {want - done['count']} not handled"
    result.bot_cpu_s = done["cpu_s"] - cpu_before
    result.server_cpu_s = server_cpu

    # the reply to a question is every sendMessage to its chat (one asker, one question)
    last_reply: dict[int, float] = {}
    slow_down = messages.SLOW_DOWN.strip()
    refused: Counter[str] = Counter()
    for call in api.calls[calls_before:]:
        if call.method == "getUpdates":
            continue
        if not call.ok:
            refused[f"{call.method}: {call.description}"] += 1
            continue
        if call.method != "sendMessage":
            continue
        chat_id = call.params.get("chat_id")
        if chat_id not in chats:
            continue
        result.messages += 1
        if isinstance(call.result, dict) and call.result.get("text") == slow_down:
            result.slow_down_notes += 1
        last_reply[chat_id] = max(last_reply.get(chat_id, 0.0), call.started)
    latencies = [
        arrived - api.handed_out[chats[chat_id]]
        for chat_id, arrived in last_reply.items()
        if chats[chat_id] in api.handed_out
    ]
    result.answered = len(last_reply)
    result.refused = dict(refused)
    statuses = api.status_counts() - statuses_before
    result.http_errors = {str(code): n for code, n in sorted(statuses.items()) if code >= 400}
    if last_reply:
        result.wall_s = max(last_reply.values()) - t0
        result.replies_per_s = result.answered / result.wall_s
        result.messages_per_s = result.messages / result.wall_s
        result.p50_ms = percentile_ms(latencies, 50)
        result.p99_ms = percentile_ms(latencies, 99)
        result.max_ms = percentile_ms(latencies, 100)
    return result


@dataclass
class ModeResult:
    """One bot process: its phases, start-up, retries and the warnings it logged."""

    mode: str
    phases: list[PhaseResult] = field(default_factory=list)
    startup_s: float = math.nan
    retries: int = 0
    warnings: list[str] = field(default_factory=list)
    failed: str | None = None


def child_env(base_url: str, token: str, db_path: Path, knowledge: Path) -> dict[str, str]:
    """This environment without any of the bot's own settings, then the benchmark's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(BOT_ENV_PREFIXES) and k not in BOT_ENV_NAMES
    }
    return env | {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_BASE_URL": base_url,
        "BOT_DB_PATH": str(db_path),
        "BOT_KNOWLEDGE_DIR": str(knowledge),
        "LOG_LEVEL": "WARNING",
    }


def run_mode(
    mode: Mode, questions: Sequence[str], workdir: Path, users: Any, *, nodelay: bool = True
) -> ModeResult:
    """Start a fake server and a bot process, measure the mode's phases, stop both."""
    from tests.fake_bot_api import TOKEN

    result = ModeResult(mode.name)
    folder = workdir / mode.name.replace(" ", "-")
    # a copy: the bot watches its knowledge folder, and an edit meanwhile must not reload it
    knowledge = folder / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    spec = {"limiter": mode.limiter, "cache_dir": str(workdir / "jieba")}
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    api = fake_server_class(nodelay)().start()
    env = child_env(api.base_url, TOKEN, folder / "bot.sqlite3", knowledge)
    child = Child(spec_file, env, folder / "stderr.txt")
    try:
        result.startup_s = child.event("ready", 90)["startup_s"]
        for k, phase in enumerate(mode.phases):
            if k:
                time.sleep(1.0)  # the limiter's bucket fills up again before the next phase
            _progress(f"{phase.name}: {phase.questions} questions")
            result.phases.append(run_phase(api, child, phase, mode.limiter, questions, users))
        child.send("stop")
        result.retries = child.event("stopped", 30)["retries"]
    except RuntimeError as exc:
        result.failed = str(exc)
    finally:
        child.close()
        api.stop()
        result.warnings = child.warnings()
    return result


# ----- report ---------------------------------------------------------------------------------


def _errors(phase: PhaseResult) -> str:
    if not phase.http_errors:
        return "none"
    return ", ".join(f"{n}x HTTP {code}" for code, n in phase.http_errors.items())


def report(
    results: list[ModeResult], questions: Sequence[str], version: str, *, nagle: bool = False
) -> str:
    from bench_answer import _cpu_model, engine_source

    from bot.app import CONCURRENT_UPDATES

    out = [
        "会议问答 bot benchmark, end to end (fake Bot API on 127.0.0.1 -> PTB Application -> "
        "sendMessage)",
        f"machine: {_cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"load average {_loadavg()}; the server in this process, the bot in a child process",
        "server: tests/fake_bot_api.py, no faults, no delays, "
        + (
            "Nagle's algorithm left on (--nagle): every answer waits ~40 ms for a delayed ACK"
            if nagle
            else "Nagle's algorithm off on its sockets (as a real Bot API server answers)"
        ),
        f"engine: commit {version}; core source digest {engine_source()}",
        f"questions: the {len(questions)} `q` of tests/eval/dev.yaml, cycled; each from a user "
        "of its own, in a private chat; a burst offers them all at once, a paced run one by one",
        "",
    ]
    rows = []
    for mode in results:
        for p in mode.phases:
            rows.append(
                [
                    p.name,
                    f"{p.answered}/{p.questions}",
                    str(p.messages),
                    f"{p.wall_s:.2f} s",
                    _num(p.replies_per_s),
                    _num(p.messages_per_s),
                    f"{_num(p.p50_ms)} ms",
                    f"{_num(p.p99_ms)} ms",
                    _errors(p),
                    f"{p.bot_cpu_s:.2f} s ({p.bot_cpu_s / max(p.answered, 1) * 1000:.2f} ms/q)",
                    f"{p.server_cpu_s:.2f} s",
                ]
            )
    out += _table(
        rows,
        [
            "run",
            "answered",
            "messages",
            "wall",
            "replies/s",
            "msgs/s",
            "p50",
            "p99",
            "4xx/5xx",
            "bot CPU",
            "server CPU",
        ],
    )
    out.append(
        "wall: from the first update offered to the last sendMessage received; latency: from "
        "getUpdates handing an update out to the last sendMessage of its reply"
    )
    out.append("")
    by_name = {p.name: p for mode in results for p in mode.phases}
    on = next((p for n, p in by_name.items() if n.startswith("limiter on, burst")), None)
    off = next((p for n, p in by_name.items() if n.startswith("limiter off")), None)
    if on is not None and on.answered:
        steady = (on.messages - TELEGRAM_PER_SECOND) / on.wall_s if on.wall_s else math.nan
        out.append(
            f"limiter on: {_num(on.replies_per_s)} replies/s ({_num(on.messages_per_s)} "
            f"messages/s; {_num(steady)}/s after the first burst) is Telegram's limit, by "
            f"design: Telegram lets a bot send about {TELEGRAM_PER_SECOND} messages a second "
            f"overall, and bot/delivery.py queues every send to stay under it (a first burst "
            f"of {TELEGRAM_PER_SECOND}, then {TELEGRAM_PER_SECOND}/s). A backlog drains at "
            "that rate, so a burst's latency is mostly its replies' wait in that queue; the "
            "paced run shows the latency when questions come slower than the cap."
        )
    if off is not None and off.answered:
        cores = off.bot_cpu_s / off.wall_s if off.wall_s else math.nan
        out.append(
            f"limiter off: {_num(off.replies_per_s)} replies/s is the pipeline's own capacity "
            "on this machine (long polling, PTB, the gate, the engine, rendering, the HTTP "
            f"sends and the store), the bot process using {cores:.2f} of a core; a burst's "
            "latency is its wait in PTB's queue (up to 100 updates a poll, "
            f"{CONCURRENT_UPDATES} handled at once)."
        )
    for mode in results:
        notes = []
        if mode.failed:
            notes.append(f"FAILED: {mode.failed}")
        notes.append(f"start-up {_num(mode.startup_s)} s (not in the figures)")
        if mode.retries:
            notes.append(f"{mode.retries} request(s) sent again")
        for p in mode.phases:
            if p.cut:
                notes.append(f"{p.name} {p.cut}")
            if p.slow_down_notes:
                notes.append(
                    f"{p.name}: {p.slow_down_notes} note(s) to slow down (the per-user limit bit)"
                )
            if p.refused:
                notes.append(
                    f"{p.name} refused: " + "; ".join(f"{n}x {d}" for d, n in p.refused.items())
                )
            notes.append(f"{p.name}: max latency {_num(p.max_ms)} ms")
        if mode.warnings:
            shown = "; ".join(mode.warnings[:3])
            more = f" (and {len(mode.warnings) - 3} more)" if len(mode.warnings) > 3 else ""
            notes.append(f"{len(mode.warnings)} warning(s) logged: {shown}{more}")
        out.append(f"{mode.mode}: " + "; ".join(notes))
    return "\n".join(out)


# ----- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions (under 40 s)")
    parser.add_argument(
        "--questions", type=int, help="questions per burst (default 1200 on, 2000 off)"
    )
    parser.add_argument(
        "--nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the fake server, as the tests run it (~40 ms a call)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker.read_text("utf-8")))
        return 0

    from bench_answer import dev_questions, git_version

    t_start = time.monotonic()
    version = git_version()
    questions = dev_questions()
    _loadavg()  # the load at the start, for the header
    users = itertools.count(FIRST_USER_ID)
    results = []
    with _workdir(args.keep, prefix="bench-bot-") as workdir:
        for mode in make_modes(args):
            _progress(f"{mode.name}: starting the bot")
            results.append(run_mode(mode, questions, workdir, users, nodelay=not args.nagle))
    print(report(results, questions, version, nagle=args.nagle))
    print(f"(whole run {time.monotonic() - t_start:.0f} s)")
    if args.json:
        data = [asdict(r) for r in results]
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if all(r.failed is None for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
