"""What the sign-in-through-other-sites tests run against.

- `OidcProvider`: a real OpenID Connect provider, npm `oidc-provider` (provider.mjs),
  started as a node process on 127.0.0.1 and driven with httpx as a browser would: its
  login and consent forms, then back to Waymark's callback with a code.
- `StandIn`: a small local HTTP server that is NOT a real provider. It plays an OIDC issuer
  whose token endpoint hands back whatever ID token the test signed (wrong `iss`, `alg:
  none`, ...: tokens no certified provider would make), with a JWKS the test rotates; and
  GitHub's documented OAuth endpoints (`/login/oauth/authorize`, `/login/oauth/access_token`,
  `/user`, `/user/emails`), checking the PKCE verifier as GitHub does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.needs import unavailable
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_SCRIPT = Path(__file__).with_name("provider.mjs")
SITE = "https://testserver.local"
CLIENT_ID = "waymark-tests"
CLIENT_SECRET = "a test client's secret, not a real one"


def callback_of(provider: str) -> str:
    return f"{SITE}/auth/{provider}/callback"


@contextmanager
def oidc_provider(name: str) -> Iterator[str]:
    """A real `oidc-provider` whose one client is Waymark's provider `name`; its issuer."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        unavailable("node and npm oidc-provider", "run `make browser-tools`")
    port = free_port()
    with subprocess.Popen(
        [node, str(PROVIDER_SCRIPT), str(port), callback_of(name), CLIENT_ID, CLIENT_SECRET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its warnings about the development-only defaults
        text=True,
        cwd=ROOT,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.strip() == "ready", f"oidc-provider did not start: {line}"
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


async def through_provider(idp: httpx.AsyncClient, url: str, login: str) -> str:
    """Follow the provider's pages from the authorization URL as a browser would, signing
    in as `login` and consenting, until it sends the browser back to Waymark: that URL."""
    for _ in range(12):
        if url.startswith(SITE):
            return url
        answer = await idp.get(url)
        if answer.is_redirect:
            url = str(answer.next_request.url) if answer.next_request else ""
            continue
        html = answer.text
        action = html.split('action="', 1)[1].split('"', 1)[0]
        fields = (
            {"prompt": "login", "login": login, "password": "anything"}
            if 'name="login"' in html
            else {"prompt": "consent"}
        )
        answer = await idp.post(str(answer.url.join(action)), data=fields)
        assert answer.is_redirect, answer.text
        url = str(answer.next_request.url) if answer.next_request else ""
    raise AssertionError(f"the provider never sent the browser back: {url}")


async def sign_out(browser: Any) -> None:
    """Sign out through the pages (the settings page's CSRF token)."""
    html = (await browser.get("/settings")).text
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    await browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)


def site_path(url: str) -> str:
    """The path and query of a URL on Waymark's test site, for the in-process client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class StandIn:
    """The stand-in's state: keys the tests rotate, the next ID token, GitHub's user."""

    base: str = ""
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    id_token: str = ""
    github_user: dict[str, Any] = field(default_factory=dict)
    github_emails: list[dict[str, Any]] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)
    """GitHub codes handed out, with the PKCE challenge each was asked with."""

    def new_key(self) -> str:
        kid = secrets.token_hex(4)
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def jwks(self) -> dict[str, Any]:
        found = []
        for kid, key in self.keys.items():
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            found.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": found}

    def sign(self, claims: dict[str, Any], *, kid: str, alg: str = "RS256") -> str:
        return jwt.encode(claims, self.keys[kid], algorithm=alg, headers={"kid": kid})


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            base = stand_in.base
            if path == "/.well-known/openid-configuration":
                self._send(
                    200,
                    {
                        "issuer": base,
                        "authorization_endpoint": f"{base}/authorize",
                        "token_endpoint": f"{base}/token",
                        "jwks_uri": f"{base}/jwks",
                    },
                )
            elif path == "/jwks":
                self._send(200, stand_in.jwks())
            elif path == "/login/oauth/authorize":
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                code = secrets.token_hex(8)
                stand_in.codes[code] = query["code_challenge"]
                back = (
                    f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                )
                self.send_response(302)
                self.send_header("location", back)
                self.send_header("content-length", "0")
                self.end_headers()
            elif path in ("/user", "/user/emails"):
                if self.headers.get("authorization") != "Bearer gho_standin":
                    self._send(401, {"message": "Bad credentials"})
                elif path == "/user":
                    self._send(200, stand_in.github_user)
                else:
                    self._send(200, stand_in.github_emails)
            else:
                self._send(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            path = urlsplit(self.path).path
            if path == "/token":
                self._send(200, {"id_token": stand_in.id_token, "token_type": "Bearer"})
            elif path == "/login/oauth/access_token":
                challenge = stand_in.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                if (
                    challenge is None
                    or b64(hashlib.sha256(verifier.encode()).digest()) != challenge
                ):
                    self._send(200, {"error": "bad_verification_code"})
                else:
                    self._send(200, {"access_token": "gho_standin", "token_type": "bearer"})
            else:
                self._send(404, {})

    return Handler


@contextmanager
def stand_in() -> Iterator[StandIn]:
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
