"""Throttling rules for the authentication endpoints, and the check that applies them.

Limits are keyed per account *and* IP for logins and for the mails one can ask for (reset,
confirmation), so an attacker elsewhere cannot lock a real user out; a looser per-IP limit
caps spraying across accounts. Emails are hashed before they become keys. If the limiter's
store is down, requests are refused, never let through.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

import msgspec
import structlog

from waymark.features.accounts.errors import RateLimited
from waymark.kernel.errors import ServiceUnavailable
from waymark.kernel.ports import RateLimiter

log = structlog.get_logger(__name__)


class Rule(msgspec.Struct, frozen=True):
    name: str
    limit: int
    period: float


LOGIN_ACCOUNT_IP = Rule("login-account-ip", 5, 300)
LOGIN_IP = Rule("login-ip", 30, 300)
REGISTER_IP = Rule("register-ip", 10, 3600)
VERIFY_IP = Rule("verify-ip", 30, 3600)
# Reset and confirmation mails: 3 an hour per address from one IP, 10 an hour per IP. There
# is deliberately no cap per address alone, however loose: anyone can spend such a cap from
# IPs of their own, and the owner then gets no reset or confirmation mail for the period
# from anywhere, their own IP included. The price: an attacker with many IPs can send one
# address 3 mails an hour per IP (each new link kills the previous one, the last one works).
RESEND_ACCOUNT_IP = Rule("resend-account-ip", 3, 3600)
RESEND_IP = Rule("resend-ip", 10, 3600)
FORGOT_ACCOUNT_IP = Rule("forgot-account-ip", 3, 3600)
FORGOT_IP = Rule("forgot-ip", 10, 3600)
RESET_IP = Rule("reset-ip", 10, 3600)
REFRESH_IP = Rule("refresh-ip", 120, 60)
# Re-authentication (current password) before changing the password or email or deleting.
REAUTH_ACCOUNT = Rule("reauth-account", 5, 300)


def account_key(email: str, ip: str = "") -> str:
    """The limiter key of an account (and IP): `email` is canonical, as request bodies hold
    it (`normalize_email`), so every spelling of one address counts as one."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:24]
    return f"{digest}:{ip}" if ip else digest


class Throttle:
    def __init__(self, limiter: RateLimiter, *, clock: Callable[[], float] = time.time) -> None:
        self.limiter = limiter
        self.clock = clock

    async def forgive(self, rule: Rule, key: str) -> None:
        """Clear `key`'s count under `rule` after the caller proved who they are (a correct
        password): limits keyed on an account are there to stop guessing, and must not lock
        out someone who keeps getting it right. Best effort: the success already happened."""
        try:
            await self.limiter.reset(f"rl:{rule.name}:{key}")
        except Exception as exc:
            log.warning("rate_limit_not_reset", rule=rule.name, error=repr(exc))

    async def check(self, *hits: tuple[Rule, str]) -> None:
        """Count one request against each (rule, key); raise RateLimited on the first denial."""
        now = self.clock()
        for rule, key in hits:
            try:
                decision = await self.limiter.hit(
                    f"rl:{rule.name}:{key}", limit=rule.limit, period=rule.period, now=now
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
