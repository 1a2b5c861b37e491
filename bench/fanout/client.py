"""The subscribers of a fan-out run: N live connections in one process, timing every event.

    python -m bench.fanout.client < commands

Started by `bench.fanout` with one JSON line on standard input (`Config`), it opens the
connections (a bounded number at a time), waits for each one's `ready`, prints
`{"ready": N, ...}`, then obeys one JSON command per line:

- `{"expect": k, "timeout": s}`: wait until every connection has seen `k` events since the
  last `expect` (or `s` seconds pass), then print each connection's arrival times
  (`time.monotonic()`, the clock the driver stamps its sends with: system-wide on Linux) and
  how many it missed;
- `{"close": true}`: close everything and exit.

Only the arrival of an event's kind marker is looked for in the bytes as they come (an SSE
`event: <kind>` line, a WebSocket message's `"kind": "<kind>"`), never a full parse: the
client must cost as little as possible, since it shares the machine with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from typing import Any

import msgspec


class Config(msgspec.Struct, frozen=True, kw_only=True):
    transport: str
    """`sse`: an HTTP GET answered with `text/event-stream`; `ws`: a WebSocket (a ticket
    asked for first at `ticket_path` when given, then `subscribe` sent, if given, and its
    answer awaited)."""
    host: str
    port: int
    path: str
    headers: dict[str, str]
    connections: int
    kind: str
    """The event kind whose arrivals are timed."""
    ready: str = "ready"
    """The kind a connection announces itself ready with."""
    open_at_once: int = 200
    attempts: int = 30
    ticket_path: str | None = None
    ticket_port: int | None = None
    """Where tickets are asked for, when not `port` (the app, beside the live gateway)."""
    subprotocol: str | None = None
    subscribe: str | None = None
    """A message to send once connected (JSON text), answered by one with `"subscribed"`."""


class Connection:
    """One subscriber: its arrivals since the last `expect`."""

    def __init__(self, marker: bytes, ready_marker: bytes) -> None:
        self.marker = marker
        self.ready_marker = ready_marker
        self.arrivals: list[float] = []
        self.ready = asyncio.Event()
        self.sample: bytes = b""
        self.closed = False
        self.refusals = 0
        self.writer: asyncio.StreamWriter | None = None

    def feed(self, tail: bytes, data: bytes) -> bytes:
        """Count the markers in `tail + data`; return the new tail (a marker may straddle
        two reads)."""
        now = time.monotonic()
        chunk = tail + data
        if not self.ready.is_set() and self.ready_marker in chunk:
            self.ready.set()
        found = chunk.count(self.marker)
        if found:
            self.arrivals.extend([now] * found)
            if not self.sample:
                self.sample = _frame_around(chunk, chunk.find(self.marker))
        return chunk[-(len(self.marker) - 1) :]


def _frame_around(chunk: bytes, at: int) -> bytes:
    """The SSE frame (up to its blank line) that holds position `at`, for the limit to send."""
    start = chunk.rfind(b"\n\n", 0, at)
    start = chunk.find(b"id:", start if start >= 0 else 0)
    end = chunk.find(b"\n\n", at)
    return chunk[start : end + 2] if start >= 0 and end >= 0 else b""


async def _sse(config: Config, conn: Connection) -> None:
    """Open the stream, again after a 503 or 429 (as an `EventSource` would: a server
    opening thousands of streams at once sheds some), then count what arrives."""
    for _ in range(config.attempts):
        reader, writer = await asyncio.open_connection(config.host, config.port, limit=1 << 20)
        head = [f"GET {config.path} HTTP/1.1", f"Host: {config.host}:{config.port}"]
        head += [f"{name}: {value}" for name, value in config.headers.items()]
        head += ["Accept: text/event-stream", "", ""]
        writer.write("\r\n".join(head).encode())
        status = await reader.readline()
        if b" 200 " in status:
            break
        rest = await reader.read(2000)
        writer.close()
        if b" 503 " not in status and b" 429 " not in status:
            raise RuntimeError(f"stream refused: {status!r} {rest[:500]!r}")
        conn.refusals += 1
        await asyncio.sleep(1.0)
    else:
        raise RuntimeError(f"stream refused {config.attempts} times")
    conn.writer = writer
    tail = b""
    while data := await reader.read(65536):
        tail = conn.feed(tail, data)
    conn.closed = True


async def _ticket(config: Config) -> str:
    """A ticket for one WebSocket, asked for with the stream's headers (its bearer token)."""
    port = config.ticket_port or config.port
    reader, writer = await asyncio.open_connection(config.host, port)
    head = [f"POST {config.ticket_path} HTTP/1.1", f"Host: {config.host}:{port}"]
    head += [f"{name}: {value}" for name, value in config.headers.items()]
    head += ["Content-Length: 0", "Connection: close", "", ""]
    writer.write("\r\n".join(head).encode())
    answer = await reader.read()
    writer.close()
    status, _, body = answer.partition(b"\r\n\r\n")
    first = status.split(b"\r\n", 1)[0]
    if b" 503 " in first or b" 429 " in first:
        raise _Busy
    if b" 201 " not in first and b" 200 " not in first:
        raise RuntimeError(f"ticket refused: {answer[:300]!r}")
    return str(json.loads(body)["ticket"])


async def _until_closed(socket: Any) -> Any:
    """The socket's messages until it closes, however it closes (the run's end drops them)."""
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        async for message in socket:
            yield message


class _Busy(Exception):
    """A ticket refused for now (503, 429)."""


RETRIED_CLOSES = {1013, 4429}
PING, PONG = b'{"type":"ping"', '{"type":"pong"}'
"""`waymark.live.v1`'s heartbeat (docs/live.md); the limit sends none."""
"""Refusals a client tries again later (unavailable for now, too many streams), as `_sse`
does a 503 or 429."""


async def _ws(config: Config, conn: Connection) -> None:
    code: int | None = None
    for _ in range(config.attempts):
        try:
            code = await _ws_once(config, conn)
        except _Busy:
            code = 1013
        if conn.ready.is_set() or code not in RETRIED_CLOSES:
            break
        conn.refusals += 1
        await asyncio.sleep(1.0)
    else:
        raise RuntimeError(f"socket refused {config.attempts} times")
    if not conn.ready.is_set():
        raise RuntimeError(f"closed before it was ready: {code}")
    conn.closed = True


async def _ws_once(config: Config, conn: Connection) -> int | None:
    """One connection, read until it closes: its close code."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    query = f"?ticket={await _ticket(config)}" if config.ticket_path else ""
    url = f"ws://{config.host}:{config.port}{config.path}{query}"
    protocols = [config.subprotocol] if config.subprotocol else None
    async with connect(
        url,
        subprotocols=protocols,
        max_size=None,
        ping_interval=None,
        compression=None,  # type: ignore[arg-type]
    ) as socket:
        if config.subscribe:
            with contextlib.suppress(ConnectionClosed):  # refused at once: its code says
                await socket.send(config.subscribe)
        async for message in _until_closed(socket):
            data = message.encode() if isinstance(message, str) else message
            if data.startswith(PING):  # the app's heartbeat: unanswered, it cuts us off
                with contextlib.suppress(ConnectionClosed):
                    await socket.send(PONG)
                continue
            if config.subscribe and not conn.ready.is_set() and b'"subscribed"' in data:
                conn.ready.set()
                continue
            if not conn.sample and conn.marker in data:
                conn.sample = data  # the whole message: what the limit sends
            conn.feed(b"", data)
        return socket.close_code


async def _open(config: Config) -> list[Connection]:
    if config.transport == "ws":
        marker = f'"kind":"{config.kind}"'.encode()
        # Ready once subscribed (`_ws`), or at the server's first message.
        ready_marker = b"\x00" if config.subscribe else f'"type":"{config.ready}"'.encode()
    else:
        marker = f"event: {config.kind}\n".encode()
        ready_marker = f"event: {config.ready}\n".encode()
    transport = _ws if config.transport == "ws" else _sse
    conns = [Connection(marker, ready_marker) for _ in range(config.connections)]
    gate = asyncio.Semaphore(config.open_at_once)
    tasks: list[asyncio.Task[None]] = []

    async def opened(conn: Connection) -> None:
        async with gate:
            task = asyncio.create_task(transport(config, conn))
            tasks.append(task)
            ready = asyncio.create_task(conn.ready.wait())
            done, _ = await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                task.result()  # raises why the stream ended
                raise RuntimeError("stream ended before it was ready")

    await asyncio.gather(*(opened(c) for c in conns))
    return conns


async def _wait_for(conns: list[Connection], expect: int, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    # Polled rather than signalled: a wake-up per arrival would cost the client more.
    while time.monotonic() < deadline and any(len(c.arrivals) < expect for c in conns):  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    answer = {
        "arrivals": [c.arrivals[:expect] for c in conns],
        "missing": sum(max(expect - len(c.arrivals), 0) for c in conns),
        "closed": sum(c.closed for c in conns),
        "sample": next((c.sample for c in conns if c.sample), b"").decode(),
    }
    for c in conns:
        del c.arrivals[:expect]
    return answer


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    lines = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    config = msgspec.json.decode(await lines.readline(), type=Config)
    started = time.monotonic()
    conns = await _open(config)
    _say(
        {
            "ready": len(conns),
            "seconds": round(time.monotonic() - started, 2),
            "refusals": sum(c.refusals for c in conns),
        }
    )
    while line := await lines.readline():
        command = json.loads(line)
        if command.get("close"):
            break
        _say(await _wait_for(conns, int(command["expect"]), float(command["timeout"])))
    for conn in conns:
        if conn.writer is not None:
            conn.writer.close()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop

            uvloop.run(main())
        except ImportError:
            asyncio.run(main())
