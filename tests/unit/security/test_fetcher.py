"""The SSRF-safe fetcher (SECURITY.md, SSRF): the corpus of internal addresses, in every
dress, never reaches a canary listening on the loopback; redirects are checked hop by hop;
caps on size, time and redirects hold. The canary is a real server (tests/fetch_support.py);
names resolving to internal addresses come from a resolver made up for the test (no DNS
server of ours runs here), every other name and literal from the system's getaddrinfo."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from ipaddress import ip_address
from pathlib import Path

import pytest

from tests.fetch_support import Listener, listening, tls_contexts
from waymark.infra.fetch import Fetcher, FetchFailed, FetchPolicy, FetchRefused, system_resolver
from waymark.infra.fetch.addresses import IPAddress, parse_networks, refusal

NAMES = {
    "internal.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "127.0.0.1"],
    "nat64.example": ["64:ff9b::7f00:1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "private.example": ["10.1.2.3"],
}


async def resolver(host: str, port: int) -> list[IPAddress]:
    if host in NAMES:
        return [ip_address(a) for a in NAMES[host]]
    return await system_resolver(host, port)


@pytest.fixture
async def canary() -> AsyncIterator[Listener]:
    async with listening(Listener(host="127.0.0.1")) as listener:
        yield listener


@pytest.fixture
async def canary6(canary: Listener) -> AsyncIterator[Listener]:
    async with listening(Listener(host="::1"), port=canary.port) as listener:
        yield listener


def open_fetcher(*ports: int, allowed: tuple[str, ...] = ()) -> Fetcher:
    """http allowed and the canary's port open: only the address check stands between a
    request and the canary."""
    policy = FetchPolicy(
        allow_http=True,
        ports=frozenset({80, 443, *ports}),
        allowed_networks=parse_networks(allowed),
    )
    return Fetcher(policy, resolver)


CORPUS = [
    "http://127.0.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0x7f.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://127.1:{port}/",
    "http://017700000001:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
    "http://[::1]:{port}/",
    "http://[::]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://[64:ff9b:1::7f00:1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://[fe80::1]:{port}/",
    "http://[fd00:ec2::254]:{port}/",
    "http://internal.example:{port}/",
    "http://metadata.example:{port}/latest/meta-data/",
    "http://mixed.example:{port}/",
    "http://nat64.example:{port}/",
    "http://mapped.example:{port}/",
    "http://private.example:{port}/",
]


async def test_the_corpus_never_reaches_the_canary(canary: Listener, canary6: Listener) -> None:
    fetcher = open_fetcher(canary.port)
    for template in CORPUS:
        url = template.format(port=canary.port)
        with pytest.raises(FetchRefused):
            await fetcher.fetch("GET", url)
    assert canary.connections == 0
    assert canary6.connections == 0


async def test_the_canary_is_reachable_when_allowed(canary: Listener) -> None:
    """The control: the same canary, let through by the test-only allow setting, answers,
    so the corpus's zero above is the filter's doing."""
    fetcher = open_fetcher(canary.port, allowed=("127.0.0.1/32",))
    fetched = await fetcher.fetch("GET", f"{canary.url}/")
    assert fetched.status == 200
    assert fetched.body == b"ok"
    assert canary.connections == 1


@pytest.mark.parametrize(
    "address",
    [
        "0.1.2.3",
        "10.0.0.1",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.51.100.1",
        "203.0.113.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "64:ff9b::a00:1",
        "64:ff9b:1::1",
        "2002:a00:1::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
def test_every_denied_range_is_refused(address: str) -> None:
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


async def test_a_redirect_to_an_internal_address_is_refused(canary: Listener) -> None:
    """The redirector is let through (127.0.0.2, the test's allowed network); each of its
    redirects points at the canary on 127.0.0.1 in another dress."""
    targets = [
        f"http://127.0.0.1:{canary.port}/",
        f"http://2130706433:{canary.port}/",
        f"http://[::ffff:127.0.0.1]:{canary.port}/",
        f"http://internal.example:{canary.port}/",
        f"http://metadata.example:{canary.port}/",
    ]
    hops: list[str] = []

    def redirect(_: object) -> tuple[int, dict[str, str], bytes]:
        return 302, {"Location": hops[-1]}, b""

    async with listening(Listener(host="127.0.0.2", answer=redirect)) as redirector:
        fetcher = open_fetcher(canary.port, allowed=("127.0.0.2/32",))
        for target in targets:
            hops.append(target)
            with pytest.raises(FetchRefused):
                await fetcher.fetch("GET", redirector.url + "/start")
        assert len(redirector.requests) == len(targets)
    assert canary.connections == 0


async def test_redirects_are_capped_and_followed() -> None:
    count = {"n": 0}

    def bounce(received: object) -> tuple[int, dict[str, str], bytes]:
        count["n"] += 1
        if count["n"] <= 3:
            return 307, {"Location": f"/hop{count['n']}"}, b""
        return 200, {}, b"landed"

    async with listening(Listener(answer=bounce)) as server:
        fetcher = Fetcher(FetchPolicy.of(allow_http=True, allowed_networks=["127.0.0.0/8"]))
        fetched = await fetcher.fetch("POST", server.url + "/", content=b"x")
        assert (fetched.status, fetched.body) == (200, b"landed")
        assert [r.path for r in server.requests] == ["/", "/hop1", "/hop2", "/hop3"]
        assert all(r.method == "POST" for r in server.requests)
        count["n"] = 0
        server.requests.clear()
        capped = Fetcher(
            FetchPolicy.of(allow_http=True, allowed_networks=["127.0.0.0/8"], max_redirects=2)
        )
        with pytest.raises(FetchRefused, match="redirects"):
            await capped.fetch("GET", server.url + "/")
        assert len(server.requests) == 3


async def test_size_and_time_are_capped() -> None:
    async with listening(Listener(answer=lambda _: (200, {}, b"a" * 10_000))) as server:
        fetcher = Fetcher(
            FetchPolicy.of(allow_http=True, allowed_networks=["127.0.0.0/8"], max_bytes=1000)
        )
        fetched = await fetcher.fetch("GET", server.url + "/")
        assert fetched.truncated
        assert fetched.body == b"a" * 1000

    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts, never answers

    stalled = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = stalled.sockets[0].getsockname()[1]
    try:
        fetcher = Fetcher(
            FetchPolicy.of(allow_http=True, allowed_networks=["127.0.0.0/8"], timeout=0.3)
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(FetchFailed, match="no answer"):
            await fetcher.fetch("GET", f"http://127.0.0.1:{port}/")
        assert loop.time() - started < 2
    finally:
        for writer in held:
            writer.close()
            await writer.wait_closed()
        stalled.close()
        await stalled.wait_closed()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/",  # http without allow_http
        "ftp://example.org/",
        "file:///etc/passwd",
        "https://user:pw@example.org/",
        "https://example.org:8443/",  # not 80 or 443 (checked once resolved)
        "gopher://127.0.0.1:70/",
        "not a url",
    ],
)
async def test_urls_of_the_wrong_form_are_refused(url: str) -> None:
    async def public(host: str, port: int) -> list[IPAddress]:
        return [ip_address("93.184.216.34")]

    fetcher = Fetcher(FetchPolicy(), public)
    with pytest.raises(FetchRefused):
        await fetcher.fetch("GET", url)


def test_the_proxy_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment would carry the request past the filter; the fetcher's
    client never reads it (trust_env=False), checked through a fetch that must be refused by
    the address check rather than sent to the proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://93.184.216.34:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://93.184.216.34:3128")
    fetcher = Fetcher(FetchPolicy(allow_http=True), resolver)
    with pytest.raises(FetchRefused, match="denied"):
        asyncio.run(fetcher.fetch("GET", "http://internal.example/"))


async def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected() -> None:
    """A rebinding resolver answers the allowed address first and the canary's after: the
    request goes to the first answer (the one checked), never asks again, and the server
    sees the name in `Host` (TLS would get it as SNI the same way)."""
    async with (
        listening(Listener(host="127.0.0.2")) as receiver,
        listening(Listener(host="127.0.0.1"), port=receiver.port) as canary,
    ):
        answers = [ip_address("127.0.0.2"), ip_address("127.0.0.1")]
        asked: list[str] = []

        async def rebinding(host: str, port: int) -> list[IPAddress]:
            asked.append(host)
            return [answers[min(len(asked) - 1, 1)]]

        policy = FetchPolicy.of(allow_http=True, allowed_networks=["127.0.0.2/32"])
        fetched = await Fetcher(policy, rebinding).fetch(
            "GET", f"http://hooks.example:{receiver.port}/x"
        )
        assert fetched.status == 200
        assert asked == ["hooks.example"]
        (got,) = receiver.requests
        assert got.headers["host"] == f"hooks.example:{receiver.port}"
        assert canary.connections == 0


async def test_https_to_the_pinned_address_keeps_the_name_for_sni_and_the_certificate(
    tmp_path: Path,
) -> None:
    """TLS to the checked address: the server is offered the name (SNI) and its certificate
    is checked against the name; the same server by its address fails the check."""
    server_tls, client_tls, offered = tls_contexts("hooks.example", tmp_path)
    async with listening(Listener(host="127.0.0.2"), tls=server_tls) as receiver:

        async def names(host: str, port: int) -> list[IPAddress]:
            return [ip_address("127.0.0.2")] if host == "hooks.example" else []

        policy = FetchPolicy.of(allowed_networks=["127.0.0.2/32"])  # https only
        fetcher = Fetcher(policy, names, ssl_context=client_tls)
        fetched = await fetcher.fetch("GET", f"https://hooks.example:{receiver.port}/tls")
        assert fetched.status == 200
        assert offered == ["hooks.example"]
        assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"

        by_address = Fetcher(policy, system_resolver, ssl_context=client_tls)
        with pytest.raises(FetchFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await by_address.fetch("GET", f"https://127.0.0.2:{receiver.port}/tls")
        assert len(receiver.requests) == 1
