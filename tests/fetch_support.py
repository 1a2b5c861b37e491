"""Small real HTTP servers on the loopback for the fetcher's and webhooks' tests: a canary
that counts every connection it is offered, and a receiver that answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener:
    """An HTTP/1.1 server on `host`: counts connections, records requests, and answers each
    with `answer(request) -> (status, headers, body)`."""

    host: str = "127.0.0.1"
    answer: Callable[[Received], tuple[int, dict[str, str], bytes]] = lambda _: (200, {}, b"ok")
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Received(method, path, headers, body)
            self.requests.append(request)
            status, extra, content = self.answer(request)
            out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}", "Connection: close"]
            out += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@contextlib.asynccontextmanager
async def listening(listener: Listener, port: int = 0) -> AsyncIterator[Listener]:
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    server = await asyncio.start_server(listener._serve, listener.host, port, family=family)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()
