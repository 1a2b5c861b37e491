"""Rate limits: a rule (so many requests per period per key), and the check that applies rules.

If the limiter's store is down, requests are refused, never let through. A denial is a 429
`rate-limited` with `Retry-After` and the `RateLimit-Policy` / `RateLimit` headers of the
IETF draft. Features keep their own rules in `limits.py`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import msgspec
import structlog

from waymark.kernel.errors import RateLimited, ServiceUnavailable
from waymark.kernel.ports import RateLimiter

log = structlog.get_logger(__name__)


class Rule(msgspec.Struct, frozen=True):
    name: str
    limit: int
    period: float


class Throttle:
    def __init__(self, limiter: RateLimiter, *, clock: Callable[[], float] = time.time) -> None:
        self.limiter = limiter
        self.clock = clock

    async def check(self, *hits: tuple[Rule, str]) -> None:
        """Count one request against each (rule, key); raise RateLimited on the first denial."""
        now = self.clock()
        for rule, key in hits:
            try:
                decision = await self.limiter.hit(
                    _key(rule, key), limit=rule.limit, period=rule.period, now=now
                )
            except Exception as exc:  # fail closed: no store, no attempts
                log.error("rate_limiter_unavailable", rule=rule.name, error=repr(exc))
                raise ServiceUnavailable("rate limiting is unavailable; try again shortly") from exc
            if not decision.allowed:
                retry = max(1, math.ceil(decision.retry_after))
                error = RateLimited(f"try again in {retry} s")
                error.headers = {
                    "retry-after": str(retry),
                    "ratelimit-policy": f'"{rule.name}";q={rule.limit};w={int(rule.period)}',
                    "ratelimit": f'"{rule.name}";r={decision.remaining};t={retry}',
                }
                raise error

    async def forgive(self, rule: Rule, key: str) -> None:
        """Clear `key`'s count under `rule` after the caller proved who they are (a correct
        password): limits keyed on an account are there to stop guessing, and must not lock
        out someone who keeps getting it right. Best effort: the success already happened."""
        try:
            await self.limiter.reset(_key(rule, key))
        except Exception as exc:
            log.warning("rate_limit_not_reset", rule=rule.name, error=repr(exc))


def _key(rule: Rule, key: str) -> str:
    return f"rl:{rule.name}:{key}"
