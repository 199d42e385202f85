"""The token-bucket limiters on a virtual clock: burst, refill rate, FIFO, oversized amounts;
the request-size estimate. (The limits on the wire: test_teacher_openai.py.)"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import imhi.teacher.limits as limits
from imhi.teacher.limits import RateLimiter, estimate_tokens


class Clock:
    """time.monotonic and asyncio.sleep on a virtual clock: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()  # the limiter module's names only: the event loop keeps the real clock
    monkeypatch.setattr(limits, "time", SimpleNamespace(monotonic=c.monotonic))
    monkeypatch.setattr(limits, "asyncio", SimpleNamespace(sleep=c.sleep, Lock=asyncio.Lock))
    return c


def _times(limiter: RateLimiter, clock: Clock, amounts: list[float]) -> list[float]:
    """Virtual seconds (from the start) at which each acquisition was granted, in order."""
    start, granted = clock.now, []

    async def go() -> None:
        for amount in amounts:
            await limiter.acquire(amount)
            granted.append(round(clock.now - start, 9))

    asyncio.run(go())
    return granted


def test_burst_of_one_seconds_worth_then_the_refill_rate(clock: Clock) -> None:
    limiter = RateLimiter(480)  # 8 a second, a burst of 8 (binary fractions: exact sums)
    assert (limiter.rate, limiter.capacity, limiter.tokens) == (8.0, 8.0, 8.0)
    assert _times(limiter, clock, [1.0] * 11) == [0.0] * 8 + [0.125, 0.25, 0.375]


def test_tokens_refill_while_idle_up_to_the_capacity(clock: Clock) -> None:
    limiter = RateLimiter(120)  # 2 a second, a burst of 2
    assert _times(limiter, clock, [2.0]) == [0.0]
    clock.now += 0.25  # half a token back
    assert _times(limiter, clock, [1.0]) == [0.25]
    clock.now += 100  # refilled to the capacity, not beyond
    assert _times(limiter, clock, [2.0, 1.0]) == [0.0, 0.5]


def test_slow_rates_keep_a_burst_of_one(clock: Clock) -> None:
    limiter = RateLimiter(30)  # 0.5 a second: capacity 1, not 0.5
    assert limiter.capacity == 1.0
    assert _times(limiter, clock, [1.0, 1.0, 1.0]) == [0.0, 2.0, 4.0]


def test_an_oversized_amount_takes_a_full_bucket(clock: Clock) -> None:
    limiter = RateLimiter(6000)  # 100 a second
    assert _times(limiter, clock, [500.0, 50.0]) == [0.0, 0.5]  # not 5 s: capped at 100
    assert limiter.tokens == pytest.approx(0.0)


def test_waiters_are_served_in_order(clock: Clock) -> None:
    limiter = RateLimiter(60)  # 1 a second
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire(1)
        order.append(i)

    async def go() -> None:
        await asyncio.gather(*(one(i) for i in range(4)))

    asyncio.run(go())
    assert order == [0, 1, 2, 3] and clock.now == pytest.approx(3.0)


def test_estimate_tokens_counts_characters_turns_and_the_reply() -> None:
    messages = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "y" * 21}, {"role": "user"}]
    assert estimate_tokens(messages, 100) == 61 // 4 + 4 * 3 + 100
    assert estimate_tokens([], 7) == 7


def test_one_token_by_default(clock: Clock) -> None:
    limiter = RateLimiter(480)
    asyncio.run(limiter.acquire())
    assert limiter.tokens == 7.0


@pytest.mark.parametrize(("per_minute", "amount"), [(7, 1.0), (13, 1.0), (333.3, 1.0), (1e5 / 7, 100.7)])
def test_rates_that_are_not_binary_fractions_sleep_once_per_wait(clock: Clock, per_minute: float,
                                                                 amount: float) -> None:
    """A refill that falls short of the amount by float rounding grants it, instead of sleeping again for
    ever-smaller times (on a clock far from zero the shortfall once stopped advancing it at all)."""
    clock.now = 1e6 / 7
    limiter = RateLimiter(per_minute)
    times = _times(limiter, clock, [amount] * 30)
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(clock.sleeps) <= 30 and all(s > 0.05 for s in clock.sleeps)
    assert steps[-1] == pytest.approx(60 * amount / per_minute) and times[-1] > 20 * 60 * amount / per_minute
