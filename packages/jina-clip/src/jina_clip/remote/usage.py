"""Token usage reported by the API, summed per call and over the encoder's lifetime."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..wire import Usage

__all__ = ["TokenUsage", "UsageMeter"]


@dataclass(frozen=True)
class TokenUsage:
    """Tokens billed, as the API reported them (``image_tokens`` is 0 when not reported)."""

    total_tokens: int = 0
    prompt_tokens: int = 0
    image_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.total_tokens + other.total_tokens,
            self.prompt_tokens + other.prompt_tokens,
            self.image_tokens + other.image_tokens,
        )

    @classmethod
    def from_wire(cls, usage: Usage) -> TokenUsage:
        return cls(usage.total_tokens, usage.prompt_tokens, usage.image_tokens or 0)


class UsageMeter:
    """Thread-safe accumulator. One per encode call (``last``) and one per encoder (``total``);
    requests of one call may finish on several threads or tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = TokenUsage()

    def add(self, usage: TokenUsage) -> None:
        with self._lock:
            self._value = self._value + usage

    @property
    def value(self) -> TokenUsage:
        with self._lock:
            return self._value
