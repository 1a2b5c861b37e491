"""The one way Waymark reaches a URL someone else chose (webhook endpoints, later link checks):
SSRF-safe by construction (SECURITY.md).

- Only `https` (and `http` when `FetchPolicy.allow_http`, for development and tests), on
  ports 80 and 443; no credentials in the URL.
- The host is resolved once, by the connection itself (`PinnedBackend.connect_tcp`), and
  EVERY address it resolves to is checked (`addresses.refusal`): one internal address and the
  request is refused, so a name that answers a public and a private address cannot win a
  race. The socket is then opened to the address that was checked, never to the name again
  (no second resolution for a DNS rebinding to slip into), while the URL keeps the name, so
  the `Host` header, TLS's SNI and the certificate check are the name's.
- Redirects are followed by hand, at most `max_redirects`, each hop's URL checked like the
  first and its connection resolved and checked again.
- The answer is read up to `max_bytes` (the rest is never read), the whole exchange,
  redirects included, takes at most `timeout` seconds, and no proxy comes from the
  environment (`trust_env=False`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from ipaddress import ip_address

import httpcore
import httpx
import msgspec

from waymark.infra.fetch.addresses import (
    IPAddress,
    IPNetwork,
    parse_networks,
    refusal,
    within,
)

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Every address a host name resolves to (for a port)."""

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PORTS = frozenset({80, 443})


class FetchRefused(Exception):
    """The URL, or an address its host resolves to, may not be reached: nothing was sent."""


class FetchFailed(Exception):
    """The request went out (or tried to) and failed: network error, timeout, TLS."""


class FetchPolicy(msgspec.Struct, frozen=True, kw_only=True):
    allow_http: bool = False
    """Plain http too (development and tests only: production refuses it)."""
    allowed_networks: tuple[IPNetwork, ...] = ()
    """Networks let through despite the deny list, on any port: a test's own receiver on
    127.0.0.1. Production refuses to start with any."""
    ports: frozenset[int] = PORTS
    """Ports a URL may name (addresses in `allowed_networks` may be on any)."""
    max_redirects: int = 3
    max_bytes: int = 2 * 1024 * 1024
    timeout: float = 8.0

    @classmethod
    def of(
        cls,
        *,
        allow_http: bool = False,
        allowed_networks: Iterable[str] = (),
        max_redirects: int = 3,
        max_bytes: int = 2 * 1024 * 1024,
        timeout: float = 8.0,
    ) -> FetchPolicy:
        return cls(
            allow_http=allow_http,
            allowed_networks=parse_networks(allowed_networks),
            max_redirects=max_redirects,
            max_bytes=max_bytes,
            timeout=timeout,
        )


class Fetched(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    """At most `max_bytes` of the answer."""
    truncated: bool
    """The answer was longer than `body`."""
    url: str
    """The last hop's URL."""
    elapsed: float
    """Seconds, all hops."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The system's resolver (getaddrinfo): what a socket to `host` would reach."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchFailed(f"cannot resolve {host!r}: {exc}") from exc
    return [ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the SSRF check in front of every connection: resolve,
    check every address, connect to the checked one."""

    def __init__(self, policy: FetchPolicy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()
        self.connected: list[IPAddress] = []

    async def checked(self, host: str, port: int) -> IPAddress:
        addresses = await self.resolver(host.strip("[]"), port)
        if not addresses:
            raise FetchRefused(f"{host!r} resolves to no address")
        allowed = self.policy.allowed_networks
        for address in addresses:
            why = refusal(address, allowed)
            if why is not None:
                raise FetchRefused(f"{host!r} resolves to a denied address: {why}")
            if port not in self.policy.ports and not within(address, allowed):
                raise FetchRefused(f"port {port} may not be reached")
        return addresses[0]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self.checked(host, port)
        self.connected.append(address)
        return await self.inner.connect_tcp(
            str(address), port, timeout=timeout, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("no unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class Fetcher:
    def __init__(
        self,
        policy: FetchPolicy,
        resolver: Resolver = system_resolver,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        """The system's trust store; a test's own CA in tests."""

    def check_url(self, url: str) -> httpx.URL:
        """The URL, if its form may be fetched (scheme, port, no credentials); its addresses
        are checked when it is fetched."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchRefused(f"not a URL: {exc}") from exc
        schemes = ("https", "http") if self.policy.allow_http else ("https",)
        if parsed.scheme not in schemes:
            raise FetchRefused(f"scheme must be {' or '.join(schemes)}")
        if not parsed.host:
            raise FetchRefused("no host")
        if parsed.userinfo:
            raise FetchRefused("no credentials in the URL")
        return parsed

    async def preflight(self, url: str) -> None:
        """Refuse (`FetchRefused`, `FetchFailed` if it does not resolve) a URL that could not
        be fetched now, without sending anything: for a form that takes a URL to say so at
        once. Fetching checks again, every time."""
        target = self.check_url(url)
        port = target.port or (443 if target.scheme == "https" else 80)
        async with asyncio.timeout(self.policy.timeout):
            await PinnedBackend(self.policy, self.resolver).checked(target.host, port)

    async def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = True,
    ) -> Fetched:
        """One request (and its redirects when `follow_redirects`), or `FetchRefused` before
        anything reaches a denied address, or `FetchFailed`."""
        started = time.monotonic()
        target = self.check_url(url)
        backend = PinnedBackend(self.policy, self.resolver)
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=self.ssl_context,
            network_backend=backend,
            max_keepalive_connections=0,
        )
        client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=self.policy.timeout,
        )
        try:
            async with asyncio.timeout(self.policy.timeout), client:
                return await self._hops(
                    client, method, target, headers, content, follow_redirects, started
                )
        except TimeoutError as exc:
            raise FetchFailed(f"no answer within {self.policy.timeout:g} s") from exc

    async def _hops(
        self,
        client: httpx.AsyncClient,
        method: str,
        target: httpx.URL,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        follow_redirects: bool,
        started: float,
    ) -> Fetched:
        for _ in range(self.policy.max_redirects + 1):
            request = client.build_request(method, target, headers=headers, content=content)
            try:
                response = await client.send(request, stream=True)
            except FetchRefused:
                raise
            except httpx.HTTPError as exc:
                if isinstance(exc.__context__, FetchRefused):
                    raise exc.__context__ from None
                raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc
            try:
                location = response.headers.get("location")
                if follow_redirects and response.status_code in REDIRECTS and location:
                    target = self.check_url(str(target.join(location)))
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, content = "GET", None
                    continue
                body, truncated = await _read_capped(response, self.policy.max_bytes)
                return Fetched(
                    status=response.status_code,
                    headers=list(response.headers.items()),
                    body=body,
                    truncated=truncated,
                    url=str(target),
                    elapsed=time.monotonic() - started,
                )
            finally:
                await response.aclose()
        raise FetchRefused(f"more than {self.policy.max_redirects} redirects")


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return b"".join(chunks)[:cap], True
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc
    return b"".join(chunks), False


class StatusOf:
    """What a link check needs of a URL, its final status (`fetch(url) -> int | None`),
    through a `Fetcher`: None when it was refused (the SSRF rules) or nothing answered."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    async def fetch(self, url: str) -> int | None:
        try:
            return (await self.fetcher.fetch("GET", url)).status
        except (FetchRefused, FetchFailed):
            return None
