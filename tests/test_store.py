"""The SQLite store: schema migrations, hashed user ids, retention, the admin queries, the async
facade, and that a kill -9 mid-write loses nothing committed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.match import Engine
from bot.store import (
    MIGRATIONS,
    AsyncStore,
    Store,
    StoreError,
    group_questions,
    secret_path_for,
)

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@contextmanager
def raw(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection of our own, to look at the file the way any other reader would."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


# ----- schema, WAL, the secret -------------------------------------------------------------------


def test_migrates_an_empty_file_and_reopens(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    first = Store(db_path)
    assert first.version == len(MIGRATIONS)
    row = first.record_question(chat_type="private", user_id=1, text="谁主持的", kind="none")
    first.close()

    again = Store(db_path)
    assert again.version == len(MIGRATIONS)
    assert again.stats(datetime.now(UTC)).day.total == 1
    again.close()
    with raw(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"questions", "feedback", "admin_actions", "ignored"} <= tables
        assert conn.execute("SELECT id FROM questions").fetchall() == [(row,)]


def test_creates_the_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "bot.sqlite3"
    Store(path).close()
    assert path.exists()


def test_refuses_a_database_newer_than_the_code(db_path: Path) -> None:
    Store(db_path).close()
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this code"):
        Store(db_path)


def test_wal_mode_is_on(store: Store, db_path: Path) -> None:
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_user_ids_are_hashed_and_stable_per_install(db_path: Path, tmp_path: Path) -> None:
    user = 123456789
    store = Store(db_path)
    store.record_question(chat_type="private", user_id=user, text="你好", kind="chitchat")
    store.record_feedback(user_id=user, entry="chair", up=True)
    first = store.hash_user(user)
    store.close()

    with raw(db_path) as conn:
        hashes = [r[0] for r in conn.execute("SELECT user_hash FROM questions")]
        hashes += [r[0] for r in conn.execute("SELECT user_hash FROM feedback")]
        dump = "\n".join(conn.iterdump())
    assert hashes == [first, first]
    assert first != str(user) and str(user) not in dump
    assert len(first) == 64

    secret = secret_path_for(db_path)
    assert secret.stat().st_mode & 0o777 == 0o600
    key = secret.read_bytes()
    again = Store(db_path)
    assert again.hash_user(user) == first  # stable across restarts
    assert again.hash_user(user + 1) != first
    again.close()
    assert secret.read_bytes() == key  # created once, never rewritten

    other = Store(tmp_path / "other" / "bot.sqlite3")  # another install, another secret
    assert other.hash_user(user) != first
    other.close()


# ----- writes and retention ----------------------------------------------------------------------


def test_feedback_is_one_vote_per_user_per_entry_latest_wins(store: Store) -> None:
    store.record_feedback(user_id=1, entry="chair", up=True, now=ago(hours=3))
    store.record_feedback(user_id=1, entry="chair", up=False, now=ago(hours=2))
    store.record_feedback(user_id=2, entry="chair", up=True, now=ago(hours=1))
    store.record_feedback(user_id=1, entry="speaker", up=True, now=ago(hours=1))
    votes = {v.entry: (v.up, v.down) for v in store.stats(NOW).feedback}
    assert votes == {"chair": (1, 1), "speaker": (1, 0)}


def test_purge_deletes_only_rows_older_than_the_retention(store: Store, db_path: Path) -> None:
    for days in (1, 29, 31, 400):
        store.record_question(
            chat_type="group", user_id=days, text=f"q{days}", kind="none", now=ago(days=days)
        )
        store.record_feedback(user_id=days, entry="chair", up=True, now=ago(days=days))
        store.record_admin_action(admin_id=1, action="reload", now=ago(days=days))
    store.ignore("不要再提这个问题", now=ago(days=400))

    assert store.purge(30, now=NOW) == 6
    with raw(db_path) as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM questions ORDER BY id")] == [
            "q1",
            "q29",
        ]
        assert conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM admin_actions").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM ignored").fetchone()[0] == 1  # a choice, kept
    assert store.purge(30, now=NOW) == 0


async def test_the_store_purges_at_open_and_then_periodically(db_path: Path) -> None:
    seed = Store(db_path, retention_days=7)
    seed.record_question(
        chat_type="private",
        user_id=1,
        text="old",
        kind="none",
        now=datetime.now(UTC) - timedelta(days=8),
    )
    seed.close()

    store = AsyncStore(db_path, retention_days=7, purge_every=timedelta(seconds=0.2))
    await store.start()
    assert (await store.stats()).week.total == 0  # purged at open

    # a row that becomes stale while the bot runs goes at the next periodic purge
    await store.record_question(
        chat_type="private",
        user_id=1,
        text="stale",
        kind="none",
        now=datetime.now(UTC) - timedelta(days=7, seconds=-0.3),
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        with raw(db_path) as conn:
            if conn.execute("SELECT count(*) FROM questions").fetchone()[0] == 0:
                break
    else:
        pytest.fail("the periodic purge did not delete the stale row")
    await store.close()


# ----- the admin queries -------------------------------------------------------------------------


def seed_outcomes(store: Store) -> None:
    rows = [
        # (hours ago, kind, entry, score)
        (1, "answer", "chair", 1.0),
        (2, "answer", "chair", 0.9),
        (3, "answer", "speaker", 0.8),
        (5, "clarify", None, 0.55),
        (6, "none", None, 0.2),
        (7, "chitchat", "hello", 1.0),
        (30, "answer", "chair", 1.0),  # yesterday: in the week, not the day
        (50, "answer", "ten-works", 0.65),
        (60, "none", None, 0.1),
        (100, "none", None, 0.3),
        (24 * 8, "answer", "chair", 1.0),  # over a week ago: in neither
    ]
    for n, (hours, kind, entry, score) in enumerate(rows):
        store.record_question(
            chat_type="private" if n % 2 else "supergroup",
            user_id=n,
            text=f"问题{n}",
            kind=kind,  # type: ignore[arg-type]
            entry=entry,
            score=score,
            article="wucheng-zuofeng" if entry and entry != "hello" else None,
            now=ago(hours=hours),
        )


def test_stats_figures_on_a_seeded_database(store: Store) -> None:
    seed_outcomes(store)
    store.record_feedback(user_id=1, entry="chair", up=True, now=ago(hours=1))
    store.record_feedback(user_id=2, entry="chair", up=True, now=ago(hours=1))
    store.record_feedback(user_id=3, entry="speaker", up=False, now=ago(hours=1))

    stats = store.stats(NOW)
    assert stats.day.total == 6
    assert stats.day.by_kind == {"answer": 3, "clarify": 1, "chitchat": 1, "none": 1}
    assert stats.day.share("answer") == pytest.approx(0.5)
    assert stats.week.total == 10
    assert stats.week.by_kind == {"answer": 5, "clarify": 1, "chitchat": 1, "none": 3}
    assert stats.week.share("none") == pytest.approx(0.3)
    assert stats.top_entries == (("chair", 3), ("speaker", 1), ("ten-works", 1))
    votes = {(v.entry, v.up, v.down) for v in stats.feedback}
    assert votes == {("chair", 2, 0), ("speaker", 0, 1)}
    assert stats.feedback[0].entry == "speaker"  # the most disliked entries first


def test_stats_of_an_empty_database(store: Store) -> None:
    stats = store.stats(NOW)
    assert stats.day.total == stats.week.total == 0
    assert stats.week.share("answer") == 0.0
    assert stats.top_entries == () and stats.feedback == ()


def test_unanswered_groups_near_duplicates_and_skips_ignored(store: Store) -> None:
    def ask(text: str, kind: str, score: float = 0.3, days: float = 1) -> None:
        store.record_question(
            chat_type="group",
            user_id=1,
            text=text,
            kind=kind,  # type: ignore[arg-type]
            score=score,
            now=ago(days=days),
        )

    # one group: the same question in different clothes (punctuation, full width, traditional)
    for text in ("会议预算是多少？", "会议预算是多少", "會議預算是多少?", "会议的预算是多少"):
        ask(text, "none")
    ask("会议预算是多少？", "clarify", 0.5)
    # another group, with a low-confidence answer in it
    ask("有多少人参加了会议", "none")
    ask("有多少人参加会议", "answer", score=0.63)
    # not counted: a confident answer, chit-chat, an ignored question, one past the retention
    ask("谁主持了大会", "answer", score=0.95)
    ask("你好", "chitchat", score=1.0)
    ask("天气怎么样", "none")
    ask("天气怎么样啊", "none")
    ask("很久以前的问题", "none", days=200)
    assert store.ignore("天气怎么样？")

    groups = store.unanswered(10, now=NOW)
    assert [(g.example, g.count) for g in groups] == [
        ("会议预算是多少？", 5),
        ("有多少人参加了会议", 2),
    ]
    assert groups[0].by_kind == {"none": 4, "clarify": 1}
    assert set(groups[0].texts) == {
        "会议预算是多少？",
        "会议预算是多少",
        "會議預算是多少?",
        "会议的预算是多少",
    }
    assert groups[1].by_kind == {"none": 1, "answer": 1}
    assert store.unanswered(1, now=NOW)[0].count == 5


def test_grouping_keeps_different_questions_apart() -> None:
    rows = [(t, "none", "2026-01-01") for t in ("会议预算是多少", "会议在哪里开的", "谁参加了会议")]
    assert len(group_questions(rows)) == 3
    assert group_questions([("？？", "none", "2026-01-01")]) == []  # empty once normalised


# ----- the async facade --------------------------------------------------------------------------


async def test_async_store_writes_on_its_own_thread(db_path: Path, engine: Engine) -> None:
    store = await AsyncStore.open(Settings(db_path=db_path, log_retention_days=30))
    loop_thread = threading.get_ident()
    where = await asyncio.wrap_future(store.submit(lambda s: threading.get_ident()))
    assert where != loop_thread

    answer = engine.ask("谁主持了大会？")
    ids = await asyncio.gather(
        store.record_answer(answer, chat_type="private", user_id=7),
        *(
            store.record_question(chat_type="group", user_id=i, text=f"q{i}", kind="none")
            for i in range(20)
        ),
    )
    assert len(set(ids)) == 21
    await store.record_feedback(user_id=7, entry="chair", up=True)
    await store.record_admin_action(admin_id=42, action="reload", detail="ok")
    stats = await store.stats()
    assert stats.day.total == 21 and stats.top_entries == (("chair", 1),)
    assert (await store.recent_admin_actions())[0][1:] == (42, "reload", "ok")
    await store.close()

    with raw(db_path) as conn:
        row = conn.execute(
            "SELECT kind, entry, article, score FROM questions WHERE id = ?", (ids[0],)
        )
        assert row.fetchone() == ("answer", "chair", "wucheng-zuofeng", pytest.approx(answer.score))


async def test_close_commits_everything_queued(db_path: Path) -> None:
    store = AsyncStore(db_path)
    await store.start()

    def write(i: int) -> Callable[[Store], int]:
        return lambda s: s.record_question(chat_type="group", user_id=i, text=f"q{i}", kind="none")

    futures = [store.submit(write(i)) for i in range(200)]
    await store.close()  # without awaiting a single write first
    assert all(f.done() and f.exception() is None for f in futures)
    with raw(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM questions").fetchone()[0] == 200
    with pytest.raises(StoreError, match="closed"):
        await store.record_question(chat_type="group", user_id=1, text="late", kind="none")
    await store.close()  # closing twice is harmless


async def test_a_failing_job_does_not_stop_the_writer(db_path: Path) -> None:
    store = AsyncStore(db_path)
    await store.start()
    with pytest.raises(sqlite3.IntegrityError):
        await store.record_question(chat_type="group", user_id=1, text="x", kind="maybe")  # type: ignore[arg-type]
    assert await store.record_question(chat_type="group", user_id=1, text="y", kind="none") == 1
    await store.close()


async def test_an_unusable_path_is_reported_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "is-a-folder"
    folder.mkdir()
    store = AsyncStore(folder)
    with pytest.raises(sqlite3.Error):
        await store.start()
    with pytest.raises(StoreError, match="could not open"):
        store.submit(lambda s: None)
    await store.close()


# ----- crash safety ------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bot.store import AsyncStore

    async def main() -> None:
        store = AsyncStore(Path(sys.argv[1]))
        await store.start()
        n = 0
        while True:
            n += 1
            row = await store.record_question(
                chat_type="group", user_id=n, text=f"问题 {n} " + "长" * (n % 300), kind="none"
            )
            if n % 3 == 0:
                await store.record_feedback(user_id=n, entry=f"e{n % 7}", up=bool(n % 2))
            print(row, flush=True)  # only after the commit returned

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("writes", [50, 300, 1000])
def test_kill_9_mid_write_loses_nothing_committed(db_path: Path, writes: int) -> None:
    reported: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        try:
            for line in child.stdout:
                reported.append(int(line))
                if len(reported) >= writes:
                    break
        finally:
            os.kill(child.pid, signal.SIGKILL)  # mid-write: the child never stops writing
            child.wait(timeout=30)
        # whatever it printed before dying was committed too
        reported += [int(line) for line in child.stdout.read().split()]
        errors = child.stderr.read()
    assert child.returncode == -signal.SIGKILL
    assert len(reported) >= writes, errors

    with raw(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        present = {r[0] for r in conn.execute("SELECT id FROM questions")}
    assert set(reported) <= present
    store = Store(db_path)  # and the store itself opens and keeps working
    assert store.integrity_check() == "ok"
    assert store.record_question(chat_type="group", user_id=1, text="after", kind="none") > max(
        reported
    )
    store.close()
