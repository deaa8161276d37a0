"""Getting requests through to the Bot API: within Telegram's flood limits, sent again after a
failure when that is safe, and a polling loop whose back-off never holds up a stop.

The retry policy (docs/telegram.md, "Reliability") never sends a reply twice: a request is sent
again only when Telegram provably did not act on it
- 429 Too Many Requests: after the retry_after Telegram asks for (every request waits too);
- an HTTP 5xx answer: the Bot API said that the request failed;
- no connection at all (refused, unreachable, connect timeout, no free pooled connection).
A request that may have reached Telegram (read or write timeout, connection dropped before the
answer) is not sent again, so it arrives at most once; only requests that change nothing when
repeated (getMe, setMyCommands, the webhook calls) are sent again after those too. What
Telegram refused (400, 401, 403, 404, 409) is never sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter
from telegram.request import HTTPXRequest, RequestData

log = logging.getLogger(__name__)

JSONResult = bool | dict[str, Any] | list[dict[str, Any]]

# Telegram's flood limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this)
MESSAGES_PER_SECOND = 30
GROUP_MESSAGES_PER_MINUTE = 20
# group limiters kept at most; beyond that, those with nothing pending are dropped
GROUP_LIMITERS = 512

# waits before the 2nd, 3rd, ... attempt of a request that failed without reaching Telegram
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
ATTEMPTS = len(BACKOFF_SECONDS) + 1
# a 429 asking for a longer wait than this gives the request up (its moment has passed)
MAX_RETRY_AFTER = 60.0
RETRY_AFTER_SLACK = 0.1
# requests that change nothing when repeated: sent again even if they may have arrived
IDEMPOTENT = frozenset(
    {"getMe", "deleteWebhook", "setWebhook", "setMyCommands", "deleteMyCommands", "sendChatAction"}
)
# after a stop is requested, waits (flood limits, retries) may go on this long; then what is
# still waiting is given up, so that the process ends in time
STOP_GRACE_SECONDS = 3.0

# getUpdates after failures: the next poll waits 0.5 s, doubling up to 5 s
POLL_BACKOFF_FIRST = 0.5
POLL_BACKOFF_MAX = 5.0


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait a 429 asks for, in seconds (PTB gives an int or a timedelta)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def never_reached(error: NetworkError) -> bool:
    """Whether Telegram provably did not act on the request: it answered with an error status,
    or no connection was made at all."""
    cause = error.__cause__
    if cause is None or isinstance(cause, TelegramError):
        return True  # an HTTP error status (5xx), perhaps with a page PTB could not parse
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def retry_delay(error: TelegramError, method: str, attempt: int) -> float | None:
    """Seconds to wait before sending a request again after `error` ended its `attempt`-th try
    (1, 2, ...), or None: it must not be sent again."""
    if attempt >= ATTEMPTS:
        return None
    if isinstance(error, RetryAfter):
        wait = retry_after_seconds(error)
        return wait + RETRY_AFTER_SLACK if wait <= MAX_RETRY_AFTER else None
    # BadRequest is a NetworkError to PTB, but it is Telegram refusing the request
    if not isinstance(error, NetworkError) or isinstance(error, BadRequest):
        return None
    if never_reached(error) or method in IDEMPOTENT:
        return BACKOFF_SECONDS[attempt - 1]
    return None


class Stopping(TimedOut):
    """A request given up because the bot is stopping and its wait would outlast the grace."""


class Delivery(BaseRateLimiter[int]):
    """Every Bot API request but getUpdates passes here: it waits for Telegram's flood limits
    (30 messages a second, 20 a minute per group; queued, never dropped) and is sent again
    after a failure that left Telegram untouched (the policy above).

    Modelled on PTB's AIORateLimiter, with two differences: it retries failed connections and
    5xx answers, not only 429s; and every wait gives way when the bot stops (`stop_soon`).
    """

    def __init__(self) -> None:
        self._overall = AsyncLimiter(MESSAGES_PER_SECOND, 1)
        self._groups: dict[int | str, AsyncLimiter] = {}
        # after a 429 no request is sent before this loop time
        self._paused_until = 0.0
        self._stopping = asyncio.Event()
        self._deadline: float | None = None
        # requests sent again, for the logs and the tests
        self.retries = 0

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Give up whatever still waits (nothing should, once the application has stopped)."""
        self.stop_soon(0.0)

    def stop_soon(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """No wait may end later than `grace` seconds from now: a request that would is given
        up. Requests already on the wire finish (their own timeouts bound them)."""
        deadline = asyncio.get_running_loop().time() + grace
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        self._stopping.set()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        chat_id = data.get("chat_id")
        attempt = 0
        while True:
            attempt += 1
            pause = self._pause_left()
            if pause > 0:
                await self._wait(asyncio.sleep(pause), endpoint)
            await self._admit(chat_id, endpoint)
            try:
                return await callback(*args, **kwargs)
            except TelegramError as error:
                wait = retry_delay(error, endpoint, attempt)
                if wait is None:
                    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
                        log.warning("%s not sent again after %s: %s", endpoint, _kind(error), error)
                    raise
                log.warning(
                    "%s failed (%s: %s); sending it again in %.1f s",
                    endpoint,
                    _kind(error),
                    error,
                    wait,
                )
                self.retries += 1
                if isinstance(error, RetryAfter):
                    # Telegram asks the bot to wait: every request does (the loop top waits)
                    until = asyncio.get_running_loop().time() + wait
                    self._paused_until = max(self._paused_until, until)
                    wait = 0.0
                failure = error
            if wait > 0:
                await self._wait(asyncio.sleep(wait), endpoint, failure)

    def _pause_left(self) -> float:
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())

    async def _admit(self, chat_id: object, endpoint: str) -> None:
        """Wait for the flood limits of a request to a chat (other requests have none)."""
        if chat_id is None:
            return
        limiters = [self._group(chat_id)] if _is_group(chat_id) else []
        for limiter in [*limiters, self._overall]:
            if limiter.has_capacity():
                await limiter.acquire()  # at once
            else:
                await self._wait(limiter.acquire(), endpoint)

    def _group(self, chat_id: Any) -> AsyncLimiter:
        if len(self._groups) > GROUP_LIMITERS:
            for key, limiter in list(self._groups.items()):
                if key != chat_id and limiter.has_capacity(limiter.max_rate):
                    del self._groups[key]
        if chat_id not in self._groups:
            self._groups[chat_id] = AsyncLimiter(GROUP_MESSAGES_PER_MINUTE, 60)
        return self._groups[chat_id]

    async def _wait(
        self, waiting: Awaitable[None], endpoint: str, failure: TelegramError | None = None
    ) -> None:
        """Await `waiting`, unless the bot stops and the wait would outlast the grace: then
        give the request up with `failure` (or `Stopping`)."""
        if await self._in_time(waiting):
            return
        log.warning("%s given up: the bot is stopping", endpoint)
        if failure is not None:
            raise failure
        raise Stopping(f"{endpoint} not sent: the bot is stopping")

    async def _in_time(self, waiting: Awaitable[None]) -> bool:
        """Whether `waiting` completed before the stop deadline (there is none until a stop)."""
        task = asyncio.ensure_future(waiting)
        try:
            if self._deadline is None:
                stopping = asyncio.ensure_future(self._stopping.wait())
                try:
                    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
            if not task.done() and self._deadline is not None:
                left = self._deadline - asyncio.get_running_loop().time()
                if left > 0:
                    await asyncio.wait({task}, timeout=left)
            if task.done():
                task.result()
                return True
            return False
        finally:
            if not task.done():
                task.cancel()


def _is_group(chat_id: object) -> bool:
    """Groups and channels have negative ids (or @usernames); users have positive ones."""
    if isinstance(chat_id, str):
        return not chat_id.lstrip("-").isdigit() or chat_id.startswith("-")
    return isinstance(chat_id, int) and chat_id < 0


def _kind(error: TelegramError) -> str:
    name, cause = type(error).__name__, error.__cause__
    return f"{name} (httpx.{type(cause).__name__})" if isinstance(cause, httpx.HTTPError) else name


class PollingRequest(HTTPXRequest):
    """The connection getUpdates uses. After a failed poll the next one first waits (0.5 s,
    doubling up to 5 s; or the retry_after of a 429), inside the poll, which a stop cancels
    at once. Every transient failure reaches PTB as TimedOut, which PTB retries without a
    pause of its own: so PTB's back-off (up to 30 s, which a stop does not cut) never starts.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(
            connection_pool_size=1,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
        )
        self.failures = 0
        self._wait = 0.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        # PTB's last getUpdates at a stop (timeout 0: it confirms what was fetched) never waits
        long_poll = request_data is not None and bool(request_data.parameters.get("timeout"))
        if long_poll and self._wait > 0:
            await asyncio.sleep(self._wait)
        try:
            code, payload = await super().do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except TimedOut as error:
            self._failed(f"{_kind(error)}: {error}")
            raise
        except NetworkError as error:
            self._failed(f"{_kind(error)}: {error}")
            raise TimedOut(f"getUpdates failed: {error}") from error
        if code == 429 or code >= 500:
            retry_after = _retry_after_in(payload) if code == 429 else None
            self._failed(f"HTTP {code}", retry_after)
            raise TimedOut(f"getUpdates failed: HTTP {code}")
        if code < 300:
            self._recovered()
        return code, payload

    def _failed(self, why: str, retry_after: float | None = None) -> None:
        self.failures += 1
        backoff = POLL_BACKOFF_FIRST * 2 ** min(self.failures - 1, 16)
        self._wait = max(min(backoff, POLL_BACKOFF_MAX), retry_after or 0.0)
        # the 1st, 2nd, 4th, 8th ... failure in a row: a long outage must not flood the log
        first_of_a_kind = self.failures & (self.failures - 1) == 0
        log.log(
            logging.WARNING if first_of_a_kind else logging.DEBUG,
            "polling for updates failed (%d in a row; %s); next poll in %.1f s",
            self.failures,
            why,
            self._wait,
        )

    def _recovered(self) -> None:
        if self.failures:
            log.info("polling for updates works again after %d failure(s)", self.failures)
        self.failures, self._wait = 0, 0.0


def _retry_after_in(payload: bytes) -> float | None:
    """The retry_after of a 429 answer, if it has a readable one."""
    try:
        value = json.loads(payload.decode("utf-8", "replace"))["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None
