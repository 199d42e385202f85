"""Async token-bucket limiters for requests/min and tokens/min.

Reads and writes nothing.
"""

from __future__ import annotations

import asyncio
import time

SLACK = 1e-9  # relative: a refill that falls this short of the amount by rounding grants it


class RateLimiter:
    """A token bucket refilled at ``per_minute / 60`` per second (burst: one second's worth)."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` tokens are free (FIFO); an oversized amount takes a full bucket."""
        amount = min(amount, self.capacity)
        async with self.lock:
            self._refill()
            while amount - self.tokens > SLACK * amount:  # a float shortfall is no reason to sleep again
                await asyncio.sleep((amount - self.tokens) / self.rate)
                self._refill()
            self.tokens -= amount


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    """Rough request size for a tokens/min budget: ~4 characters a token plus the reply."""
    return sum(len(m.get("content", "")) for m in messages) // 4 + 4 * len(messages) + max_tokens
