"""Limit for `login`: one argon2id verification per request, nothing else.

The same parameters as the app (OWASP: m=19 MiB, t=2, p=1), the same cap on hashes at once
(a semaphore of `concurrency`, in threads: argon2's C code releases the GIL), a fixed JSON
answer. Configuration: `email`, `password`, `concurrency`.
"""

from __future__ import annotations

import asyncio

import argon2

from bench.limits._asgi import READY_HEADERS, Receive, Scope, Send, lifespan, load_config, respond

config = load_config()
_hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_hash = _hasher.hash(config["password"])
_password = config["password"].encode()
_slots: asyncio.Semaphore | None = None
_BODY = b'{"access_token":"","token_type":"Bearer","expires_in":600,"refresh_token":""}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def _startup() -> None:
    global _slots
    _slots = asyncio.Semaphore(int(config["concurrency"]))


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, _startup, None)
        return
    if scope["path"] == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
        return
    while (await receive()).get("more_body"):
        pass
    assert _slots is not None
    async with _slots:
        await asyncio.to_thread(_hasher.verify, _hash, _password)
    await respond(send, 200, _HEADERS, _BODY)
