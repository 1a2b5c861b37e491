"""Small real HTTP servers on the loopback for the fetcher's and webhooks' tests: a canary
that counts every connection it is offered, and a receiver that answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path


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
async def listening(
    listener: Listener, port: int = 0, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Listener]:
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    server = await asyncio.start_server(
        listener._serve, listener.host, port, family=family, ssl=tls
    )
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


def tls_contexts(name: str, directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """A certificate for `name` signed by a throwaway CA: the server's context (recording
    the SNI names it is offered in the list returned) and a client's trusting that CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    ) -> x509.Certificate:
        issuer_name, signer = issuer or (subject, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
        )
        if issuer is None:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=True, path_length=None), critical=True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test CA", ca_key, None)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(name, key, ("Test CA", ca_key))
    pem = serialization.Encoding.PEM
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (directory / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    offered: list[str] = []
    server.sni_callback = lambda _sock, sni, _ctx: offered.append(sni) and None  # type: ignore[func-returns-value]
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client, offered
