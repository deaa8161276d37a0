"""Flood control: so many events per key and period, then one warning, then silence for a while.

Pure bookkeeping, no Telegram: the handlers decide what a key is (a user, a group, an error's
origin) and what to say. Memory stays bounded: idle keys are forgotten, the oldest go first.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

# questions a user may ask in private (messages and button presses) per minute
USER_PER_MINUTE = 20
# questions a group may put to the bot per minute: under Telegram's 20 messages a minute per
# group, so that every answer (and the one note to slow down) can go out at once
GROUP_PER_MINUTE = 15
# inline queries per user per minute (Telegram sends one per pause in typing)
INLINE_PER_MINUTE = 30
# after the note to slow down, the sender is ignored this long
COOLDOWN_SECONDS = 60.0
# keys remembered at most; beyond that the least recently seen are forgotten
MAX_KEYS = 10_000


class Verdict(enum.Enum):
    """What to do with one more event of a key."""

    ALLOW = "allow"  # within the limit
    WARN = "warn"  # just went over it: say so, once
    IGNORE = "ignore"  # over it and already told: ignore until the cooldown ends


@dataclass
class _Bucket:
    tokens: float
    stamp: float  # when `tokens` was last brought up to date
    quiet_until: float = float("-inf")


class FloodGate:
    """A token bucket per key: `limit` events at once, refilled at `limit` per `period` seconds.

    The event that finds the bucket empty gets WARN; every event in the `cooldown` after it
    gets IGNORE; then the bucket, refilled meanwhile, serves again.
    """

    def __init__(
        self,
        limit: int,
        period: float = 60.0,
        *,
        cooldown: float = COOLDOWN_SECONDS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a flood gate needs a limit of at least 1 per positive period")
        self.limit = limit
        self.period = period
        self.cooldown = cooldown
        self.max_keys = max_keys
        self._rate = limit / period
        # least recently seen first
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: Hashable, now: float) -> Verdict:
        """Count one event of `key` at time `now` (seconds, monotonic) and say what to do."""
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.limit), stamp=now)
        else:
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(self.limit), bucket.tokens + elapsed * self._rate)
            bucket.stamp = now
        self._buckets[key] = bucket
        self._forget(now)
        if now < bucket.quiet_until:
            return Verdict.IGNORE
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict.ALLOW
        bucket.quiet_until = now + self.cooldown
        return Verdict.WARN

    def _forget(self, now: float) -> None:
        """Drop buckets as good as new (full again, cooldown over), and the oldest beyond
        `max_keys`; both from the least recently seen end, so this costs O(1) per hit."""
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            idle = now - bucket.stamp >= self.period and now >= bucket.quiet_until
            if not idle and len(self._buckets) <= self.max_keys:
                return
            del self._buckets[key]


class Limits:
    """The bot's limits on incoming work: per user, per group, per user's inline queries."""

    def __init__(self) -> None:
        self.users = FloodGate(USER_PER_MINUTE)
        self.groups = FloodGate(GROUP_PER_MINUTE)
        self.inline = FloodGate(INLINE_PER_MINUTE)
