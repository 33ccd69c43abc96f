"""When to retry and how long to wait: exponential backoff with full jitter, honouring the
server's ``Retry-After`` (capped at ``backoff_max``)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .error_map import Failure

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt (0: a single attempt)."""

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must be >= 0")

    def delay(self, failure: Failure, attempt: int) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up.

        ``attempt`` counts retries already made. A server-given ``Retry-After`` wins (it knows
        when capacity returns); otherwise full jitter: uniform in [0, base·2^attempt], capped,
        so that many clients that failed together do not retry together."""
        if not failure.retryable or attempt >= self.max_retries:
            return None
        if failure.retry_after is not None:
            return min(failure.retry_after, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * (2.0**attempt))
        return random.uniform(0.0, ceiling)
