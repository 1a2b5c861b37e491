"""The caller of a page request, by the browser session cookie, found the cheapest correct
way, as `Authenticator.from_cookie` (src/waymark/features/auth/) finds it in production
(sessions in Redis, `infra/redis/sessions.py`):

1. the `__Host-waymark_session` cookie's value, hashed as the app hashes it (SHA-256, hex);
2. **one** `HMGET {prefix}sess:{id hash} user_id created_at expires_at` over one raw RESP
   connection (`bench/limits/_resp.py`): the session must exist and `expires_at` must not
   be past. The app reads the same hash, and slides its expiry when the last touch is
   `TOUCH_GRANULARITY` old (a script, once per five seconds of a session's requests);
   the limit never writes.

The account row (not disabled, `tokens_valid_after` not after the session's creation) is the
limit's to read in its own SQL, with `issued_before`, the app's rule.

Configuration keys it reads: `redis_prefix`; `redis_url` at `open`.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from bench.limits._resp import RedisHolder, command

SESSION_COOKIE = b"__Host-waymark_session"
_FIELDS = (b"user_id", b"created_at", b"expires_at")


def cookie_value(scope: Any, name: bytes) -> bytes | None:
    """The value of cookie `name` in the request's Cookie headers, or None."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key != b"cookie":
            continue
        for part in value.split(b";"):
            cookie, _, found = part.strip().partition(b"=")
            if cookie == name:
                return found
    return None


class Sessions(RedisHolder):
    """Checks a request's session cookie against the app's sessions in Redis."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.prefix = f"{config['redis_prefix']}sess:".encode()

    async def caller(self, scope: Any, now: float) -> tuple[uuid.UUID, float] | None:
        """The account id and the session's creation time of a live session, else None."""
        session_id = cookie_value(scope, SESSION_COOKIE)
        if not session_id:
            return None
        id_hash = hashlib.sha256(session_id).hexdigest().encode()
        assert self.redis is not None
        user_id, created_at, expires = await self.redis.call(
            command(b"HMGET", self.prefix + id_hash, *_FIELDS)
        )
        if user_id is None or expires is None or now > float(expires):
            return None
        return uuid.UUID(user_id.decode()), float(created_at)
