"""The bot's own records in SQLite: questions asked, feedback, admin actions, ignored questions.

`Store` is the synchronous core (one connection, one transaction per write); `AsyncStore` runs
it on a single writer thread so that no handler ever waits on the disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rapidfuzz import fuzz, process

from bot.config import Settings
from bot.files import fsync_dir
from bot.model import Answer, AnswerKind
from bot.normalise import normalise

log = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_BYTES = 32
# answers scoring below this count as low confidence in `unanswered`
LOW_SCORE = 0.7
# near-duplicate questions (by rapidfuzz ratio of their normalised text) form one group
GROUP_RATIO = 85.0
PURGE_EVERY = timedelta(days=1)
# a logged question or admin detail keeps at most this many characters: matching reads only
# the first 200 normalised ones (bot/normalise.py), and a 4096-character message is no question
STORED_TEXT_CHARS = 300
KINDS: tuple[AnswerKind, ...] = ("answer", "clarify", "chitchat", "none")

# One script per schema version; `PRAGMA user_version` says how many have run.
# Never edit a released script: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,           -- UTC, ISO 8601
        chat_type TEXT NOT NULL,      -- private, group, supergroup, channel, inline
        user_hash TEXT NOT NULL,      -- HMAC-SHA256 of the Telegram user id
        text TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('answer', 'clarify', 'chitchat', 'none')),
        entry TEXT,
        score REAL NOT NULL,
        article TEXT
    );
    CREATE INDEX questions_time ON questions (time);
    CREATE TABLE feedback (
        user_hash TEXT NOT NULL,
        entry TEXT NOT NULL,
        vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
        time TEXT NOT NULL,
        PRIMARY KEY (user_hash, entry)
    );
    CREATE INDEX feedback_time ON feedback (time);
    CREATE TABLE admin_actions (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        admin_id INTEGER NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX admin_actions_time ON admin_actions (time);
    CREATE TABLE ignored (
        normalised TEXT PRIMARY KEY,
        example TEXT NOT NULL,
        time TEXT NOT NULL
    );
    """,
)


class StoreError(Exception):
    """The database cannot be used: newer than this code, or the store is closed."""


@dataclass(frozen=True)
class Period:
    """Questions asked in one period, counted per outcome."""

    total: int
    by_kind: dict[str, int]

    def share(self, kind: AnswerKind) -> float:
        return self.by_kind.get(kind, 0) / self.total if self.total else 0.0


@dataclass(frozen=True)
class EntryVotes:
    """Feedback on one entry: the latest vote of each user, counted."""

    entry: str
    up: int
    down: int


@dataclass(frozen=True)
class Stats:
    """What `/stats` shows: volume, outcomes, the most asked entries and their feedback."""

    day: Period
    week: Period
    top_entries: tuple[tuple[str, int], ...]
    feedback: tuple[EntryVotes, ...]


@dataclass(frozen=True)
class UnansweredGroup:
    """Near-duplicate questions the bot did not answer, or answered without confidence."""

    example: str
    count: int
    normalised: str
    by_kind: dict[str, int] = field(default_factory=dict)
    texts: tuple[str, ...] = ()
    last: str = ""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    """A sortable UTC timestamp: every row uses this one format, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def load_secret(path: Path) -> bytes:
    """The per-install key for hashing user ids: read it, or create it once (mode 0600)."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    if len(secret) >= SECRET_BYTES:
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a complete key to a temporary file, then link it into place: the link fails if
    # another process won the race, and a reader never sees a half-written key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(SECRET_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if path.exists():  # an empty or truncated key from a crash: replace it
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path.read_bytes()


def secret_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".secret")


class Store:
    """One SQLite database, used from one thread; every write is its own transaction."""

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = 90,
        secret_path: Path | None = None,
        low_score: float = LOW_SCORE,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.low_score = low_score
        path.parent.mkdir(parents=True, exist_ok=True)
        self._secret = load_secret(secret_path or secret_path_for(path))
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per write
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("SQLite refused WAL mode for %s (mode %s)", path, mode)
        # FULL: a commit is on disk before it returns, even across a power cut
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self.migrate()

    # ----- schema ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> int:
        """Run the migrations this database has not seen; return the schema version."""
        while True:
            # read the version inside the write transaction: another process may have
            # migrated while we waited for the lock
            with self._transaction() as conn:
                current = self.version
                if current > len(MIGRATIONS):
                    raise StoreError(
                        f"{self.path} has schema version {current}, newer than this code "
                        f"({len(MIGRATIONS)}): upgrade the bot"
                    )
                if current == len(MIGRATIONS):
                    return current
                for statement in _statements(MIGRATIONS[current]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {current + 1}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    # ----- writes ----------------------------------------------------------------------------

    def hash_user(self, user_id: int) -> str:
        """The stored stand-in for a Telegram user id: stable per install, not reversible."""
        return hmac.new(self._secret, str(user_id).encode(), hashlib.sha256).hexdigest()

    def record_question(
        self,
        *,
        chat_type: str,
        user_id: int,
        text: str,
        kind: AnswerKind,
        entry: str | None = None,
        score: float = 0.0,
        article: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Log one question and its outcome; return the row id once committed."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO questions (time, chat_type, user_hash, text, kind, entry, score, "
                "article) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _stamp(now or utc_now()),
                    chat_type,
                    self.hash_user(user_id),
                    text[:STORED_TEXT_CHARS],
                    kind,
                    entry,
                    float(score),
                    article,
                ),
            )
            return int(cursor.lastrowid or 0)

    def record_answer(
        self, answer: Answer, *, chat_type: str, user_id: int, now: datetime | None = None
    ) -> int:
        """Log an engine answer: the entry it gave (or the gap it explained) and its article."""
        entry = answer.entry or answer.gap
        return self.record_question(
            chat_type=chat_type,
            user_id=user_id,
            text=answer.question,
            kind=answer.kind,
            entry=entry.id if entry else None,
            score=answer.score,
            article=entry.article if entry else None,
            now=now,
        )

    def record_feedback(
        self, *, user_id: int, entry: str, up: bool, now: datetime | None = None
    ) -> None:
        """One vote per user per entry: a new vote replaces the user's earlier one."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO feedback (user_hash, entry, vote, time) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_hash, entry) DO UPDATE SET vote = excluded.vote, "
                "time = excluded.time",
                (self.hash_user(user_id), entry, 1 if up else -1, _stamp(now or utc_now())),
            )

    def record_admin_action(
        self, *, admin_id: int, action: str, detail: str = "", now: datetime | None = None
    ) -> int:
        """Log what an admin did (reload, teach, ignore, ...)."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO admin_actions (time, admin_id, action, detail) VALUES (?, ?, ?, ?)",
                (_stamp(now or utc_now()), admin_id, action, detail[:STORED_TEXT_CHARS]),
            )
            return int(cursor.lastrowid or 0)

    def ignore(self, text: str, *, now: datetime | None = None) -> bool:
        """Leave this question (and its near-duplicates) out of `unanswered`; False if empty."""
        key = normalise(text)
        if not key:
            return False
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO ignored (normalised, example, time) VALUES (?, ?, ?) "
                "ON CONFLICT (normalised) DO NOTHING",
                (key, text[:STORED_TEXT_CHARS], _stamp(now or utc_now())),
            )
        return True

    def purge(self, older_than_days: int | None = None, *, now: datetime | None = None) -> int:
        """Delete logged questions, feedback and admin actions older than the retention."""
        days = self.retention_days if older_than_days is None else older_than_days
        cutoff = _stamp((now or utc_now()) - timedelta(days=days))
        deleted = 0
        with self._transaction() as conn:
            for table in ("questions", "feedback", "admin_actions"):
                deleted += conn.execute(f"DELETE FROM {table} WHERE time < ?", (cutoff,)).rowcount
        return deleted

    # ----- queries ---------------------------------------------------------------------------

    def stats(self, now: datetime | None = None, *, top: int = 10) -> Stats:
        """Questions in the last day and week by outcome, the most answered entries, votes."""
        now = now or utc_now()
        week_start = _stamp(now - timedelta(days=7))
        periods = []
        for start in (_stamp(now - timedelta(days=1)), week_start):
            rows = self._conn.execute(
                "SELECT kind, count(*) FROM questions WHERE time >= ? AND time <= ? GROUP BY kind",
                (start, _stamp(now)),
            ).fetchall()
            by_kind = {kind: 0 for kind in KINDS} | {str(k): int(n) for k, n in rows}
            periods.append(Period(total=sum(by_kind.values()), by_kind=by_kind))
        top_rows = self._conn.execute(
            "SELECT entry, count(*) AS n FROM questions WHERE kind = 'answer' AND entry IS NOT NULL"
            " AND time >= ? AND time <= ? GROUP BY entry ORDER BY n DESC, entry LIMIT ?",
            (week_start, _stamp(now), top),
        ).fetchall()
        votes = self._conn.execute(
            "SELECT entry, sum(vote = 1), sum(vote = -1) FROM feedback GROUP BY entry "
            "ORDER BY sum(vote = -1) DESC, sum(vote = 1) DESC, entry"
        ).fetchall()
        return Stats(
            day=periods[0],
            week=periods[1],
            top_entries=tuple((str(e), int(n)) for e, n in top_rows),
            feedback=tuple(EntryVotes(str(e), int(u), int(d)) for e, u, d in votes),
        )

    def unanswered(self, limit: int = 10, *, now: datetime | None = None) -> list[UnansweredGroup]:
        """The most frequent questions not answered or answered without confidence, grouped
        when near-duplicates, leaving out those an admin chose to ignore."""
        now = now or utc_now()
        since = _stamp(now - timedelta(days=self.retention_days))
        rows = self._conn.execute(
            "SELECT text, kind, time FROM questions WHERE time >= ? AND (kind IN ('none', "
            "'clarify') OR (kind = 'answer' AND score < ?)) ORDER BY time",
            (since, self.low_score),
        ).fetchall()
        ignored = [str(r[0]) for r in self._conn.execute("SELECT normalised FROM ignored")]
        return group_questions(
            [(str(t), str(k), str(at)) for t, k, at in rows], ignored=ignored, limit=limit
        )

    def recent_admin_actions(self, limit: int = 20) -> list[tuple[str, int, str, str]]:
        """(time, admin id, action, detail), newest first."""
        rows = self._conn.execute(
            "SELECT time, admin_id, action, detail FROM admin_actions ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(str(t), int(a), str(act), str(d)) for t, a, act, d in rows]

    def integrity_check(self) -> str:
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


def group_questions(
    rows: Sequence[tuple[str, str, str]], *, ignored: Sequence[str] = (), limit: int = 10
) -> list[UnansweredGroup]:
    """Group (text, kind, time) rows whose normalised texts are identical or near-duplicates;
    drop those near an ignored text; most frequent groups first."""
    by_key: dict[str, list[tuple[str, str, str]]] = {}
    for text, kind, at in rows:
        key = normalise(text)
        if key:
            by_key.setdefault(key, []).append((text, kind, at))
    ignored_keys = [k for k in ignored if k]
    # Most frequent forms first, so that each group is named by its most common wording.
    order = sorted(by_key, key=lambda k: (-len(by_key[k]), k))
    heads: list[str] = []
    members: dict[str, list[str]] = {}
    for key in order:
        if key in ignored_keys or (
            ignored_keys
            and process.extractOne(key, ignored_keys, scorer=fuzz.ratio, score_cutoff=GROUP_RATIO)
        ):
            continue
        found = (
            process.extractOne(key, heads, scorer=fuzz.ratio, score_cutoff=GROUP_RATIO)
            if heads
            else None
        )
        if found is None:
            heads.append(key)
            members[key] = [key]
        else:
            members[str(found[0])].append(key)
    groups = []
    for head in heads:
        items = [row for key in members[head] for row in by_key[key]]
        texts = Counter(text for text, _, _ in items)
        kinds = Counter(kind for _, kind, _ in items)
        groups.append(
            UnansweredGroup(
                example=texts.most_common(1)[0][0],
                count=len(items),
                normalised=head,
                by_kind=dict(kinds),
                texts=tuple(t for t, _ in texts.most_common()),
                last=max(at for _, _, at in items),
            )
        )
    groups.sort(key=lambda g: g.last, reverse=True)  # among equal counts, the latest first
    groups.sort(key=lambda g: g.count, reverse=True)
    return groups[:limit]


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (our scripts hold no ';' inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# ----- the asynchronous facade -------------------------------------------------------------------

_Job = tuple[Callable[[Store], Any], "concurrent.futures.Future[Any]"]
_STOP = object()


class AsyncStore:
    """A Store on its own writer thread: handlers enqueue and await, the loop never blocks.

    Jobs run one at a time in the order they were submitted; `close()` runs everything already
    queued, then closes the database. The thread also purges old rows once a day.
    """

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = 90,
        secret_path: Path | None = None,
        purge_every: timedelta = PURGE_EVERY,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self._secret_path = secret_path
        self._purge_every = purge_every.total_seconds()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, settings: Settings) -> AsyncStore:
        """Open the store of these settings: migrate and purge on the writer thread."""
        store = cls(settings.db_path, retention_days=settings.log_retention_days)
        await store.start()
        return store

    async def start(self) -> None:
        """Start the writer thread and wait until the database is open (raises if it cannot)."""
        self._start_thread()
        await asyncio.wrap_future(self._ready)

    def start_blocking(self) -> None:
        """`start()` for code outside the event loop."""
        self._start_thread()
        self._ready.result()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            # daemon: a forgotten close() must not hang interpreter exit; close() flushes
            self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            store = Store(
                self.path, retention_days=self.retention_days, secret_path=self._secret_path
            )
            store.purge()
        except BaseException as exc:
            with self._lock:  # so that no job slips into the queue after the drain
                self._ready.set_exception(exc)
                self._drain_failed(exc)
            return
        self._ready.set_result(None)
        next_purge = time.monotonic() + self._purge_every
        try:
            while True:
                try:
                    job = self._queue.get(timeout=max(0.0, next_purge - time.monotonic()))
                except queue.Empty:
                    self._purge_quietly(store)
                    next_purge = time.monotonic() + self._purge_every
                    continue
                if job is _STOP:
                    break
                fn, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(store))
                except BaseException as exc:
                    log.exception("store job failed")
                    future.set_exception(exc)
        finally:
            store.close()

    def _purge_quietly(self, store: Store) -> None:
        try:
            deleted = store.purge()
            if deleted:
                log.info("purged %d rows older than %d days", deleted, self.retention_days)
        except sqlite3.Error:
            log.exception("daily purge failed")

    def _drain_failed(self, exc: BaseException) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                job[1].set_exception(StoreError(f"store could not open: {exc}"))

    def submit(self, fn: Callable[[Store], T]) -> concurrent.futures.Future[T]:
        """Queue `fn(store)` on the writer thread; never blocks."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._ready.done() and self._ready.exception() is not None:
                raise StoreError(f"store could not open: {self._ready.exception()}")
            self._queue.put((fn, future))
        self._start_thread()
        return future

    async def _call(self, fn: Callable[[Store], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    # The async API: each method returns once its transaction is committed (or its query run).

    async def record_question(
        self,
        *,
        chat_type: str,
        user_id: int,
        text: str,
        kind: AnswerKind,
        entry: str | None = None,
        score: float = 0.0,
        article: str | None = None,
        now: datetime | None = None,
    ) -> int:
        return await self._call(
            lambda s: s.record_question(
                chat_type=chat_type,
                user_id=user_id,
                text=text,
                kind=kind,
                entry=entry,
                score=score,
                article=article,
                now=now,
            )
        )

    async def record_answer(
        self, answer: Answer, *, chat_type: str, user_id: int, now: datetime | None = None
    ) -> int:
        return await self._call(
            lambda s: s.record_answer(answer, chat_type=chat_type, user_id=user_id, now=now)
        )

    async def record_feedback(
        self, *, user_id: int, entry: str, up: bool, now: datetime | None = None
    ) -> None:
        await self._call(lambda s: s.record_feedback(user_id=user_id, entry=entry, up=up, now=now))

    async def record_admin_action(
        self, *, admin_id: int, action: str, detail: str = "", now: datetime | None = None
    ) -> int:
        return await self._call(
            lambda s: s.record_admin_action(
                admin_id=admin_id, action=action, detail=detail, now=now
            )
        )

    async def ignore(self, text: str) -> bool:
        return await self._call(lambda s: s.ignore(text))

    async def purge(self, older_than_days: int | None = None) -> int:
        return await self._call(lambda s: s.purge(older_than_days))

    async def stats(self, now: datetime | None = None) -> Stats:
        return await self._call(lambda s: s.stats(now))

    async def unanswered(
        self, limit: int = 10, *, now: datetime | None = None
    ) -> list[UnansweredGroup]:
        return await self._call(lambda s: s.unanswered(limit, now=now))

    async def recent_admin_actions(self, limit: int = 20) -> list[tuple[str, int, str, str]]:
        return await self._call(lambda s: s.recent_admin_actions(limit))

    async def close(self) -> None:
        """Commit everything queued, then close the database (without blocking the loop)."""
        await asyncio.to_thread(self.close_blocking)

    def close_blocking(self) -> None:
        """`close()` for code outside the event loop."""
        with self._lock:
            if self._closed:
                thread = self._thread
            else:
                self._closed = True
                self._queue.put(_STOP)
                thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
