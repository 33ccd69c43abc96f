"""When to retry and how long to wait: exponential backoff with full jitter, honouring the
server's ``Retry-After`` up to ``max_retry_after`` and giving up beyond it.

The values come validated from :class:`~jina_clip.remote.options.RemoteOptions`."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import RetryAfterTooLongError
from .error_map import Failure

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt (0: a single attempt)."""

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 60.0

    def delay(self, failure: Failure, attempt: int) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up.

        ``attempt`` counts retries already made. A server-given ``Retry-After`` wins (it knows
        when capacity returns), however much longer than ``backoff_max`` it is, up to
        ``max_retry_after``; a longer one raises :class:`RetryAfterTooLongError` (retrying
        early would only be refused again). Otherwise full jitter: uniform in
        [0, base·2^attempt], capped, so that many clients that failed together do not retry
        together."""
        if not failure.retryable or attempt >= self.max_retries:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                raise RetryAfterTooLongError.wrapping(
                    failure.error, failure.retry_after, self.max_retry_after
                )
            return failure.retry_after
        ceiling = min(self.backoff_max, self.backoff_base * (2.0**attempt))
        return random.uniform(0.0, ceiling)
