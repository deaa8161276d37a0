"""Flood control bookkeeping (bot/flood.py): limits, the one warning, the cooldown, memory."""

from __future__ import annotations

import pytest

from bot.flood import FloodGate, Verdict


def test_limit_then_one_warning_then_silence_until_the_cooldown_ends() -> None:
    gate = FloodGate(20, 60, cooldown=60)
    verdicts = [gate.hit("u", 0.0) for _ in range(25)]
    assert verdicts[:20] == [Verdict.ALLOW] * 20
    assert verdicts[20:] == [Verdict.WARN] + [Verdict.IGNORE] * 4
    assert gate.hit("u", 59.9) is Verdict.IGNORE
    # after the cooldown the bucket has refilled (20 per minute): the sender is served again
    assert [gate.hit("u", 60.0) for _ in range(20)] == [Verdict.ALLOW] * 20
    assert gate.hit("u", 60.0) is Verdict.WARN


def test_the_bucket_refills_steadily() -> None:
    gate = FloodGate(20, 60)
    for _ in range(20):
        gate.hit("u", 0.0)
    assert gate.hit("u", 2.9) is Verdict.WARN  # one token takes 3 s
    gate = FloodGate(20, 60)
    for _ in range(20):
        gate.hit("u", 0.0)
    assert gate.hit("u", 3.0) is Verdict.ALLOW


def test_keys_are_independent() -> None:
    gate = FloodGate(1, 60)
    assert gate.hit("a", 0.0) is Verdict.ALLOW
    assert gate.hit("a", 0.0) is Verdict.WARN
    assert gate.hit("b", 0.0) is Verdict.ALLOW


def test_memory_stays_bounded() -> None:
    gate = FloodGate(5, 60, max_keys=1000)
    for n in range(50_000):
        gate.hit(n, n * 0.0001)  # 50 000 senders within 5 s
    assert len(gate) <= 1000
    # senders idle for a period (bucket full again, cooldown over) are forgotten as they go
    gate.hit("late", 1000.0)
    assert len(gate) == 1


def test_a_gate_needs_a_limit() -> None:
    with pytest.raises(ValueError):
        FloodGate(0, 60)
