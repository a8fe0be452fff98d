"""The one retry policy: exponential backoff with full jitter, capped, honouring Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after_seconds)
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling)

    def should_retry(self, attempt: int, retryable: bool) -> bool:
        return retryable and attempt < self.attempts
