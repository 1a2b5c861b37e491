"""OpenID Connect, any provider from its discovery document: the authorization code flow
with PKCE S256, and the ID token validated in full (SECURITY.md, "OAuth 2.0 / OIDC login").

The ID token's signature is checked with the issuer's JWKS (fetched once and cached; an
unknown `kid` fetches it again, so a rotated key is picked up; a `kid` still unknown after
that stops refetching for `JWKS_REFETCH` seconds: made-up `kid`s are no flood of fetches),
with asymmetric algorithms only (never `none`, never an HS algorithm keyed with a public
key), then `iss` exactly, `aud` (and `azp` when there are several audiences), `exp`/`iat`
with a small leeway, and the attempt's `nonce`. A re-authentication (`Attempt.fresh_since`)
asks the provider for a new sign-in (`prompt=login`, `max_age=0`) and checks that the ID
token's `auth_time` is from then.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog

from waymark.features.auth.errors import SignInFailed
from waymark.features.auth.strategies import Attempt, ExternalIdentity
from waymark.settings import SignInProvider

log = structlog.get_logger(__name__)

ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
LEEWAY = 60.0
JWKS_REFETCH = 10.0
TIMEOUT = 8.0


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def failed(reason: str) -> SignInFailed:
    log.info("external-sign-in.refused", reason=reason)
    return SignInFailed(reason)


class OidcStrategy:
    """A provider that speaks OpenID Connect (the `oidc` strategy; Google is a preset)."""

    default_scopes = ("openid", "email", "profile")

    def __init__(self, name: str, config: SignInProvider, http: httpx.AsyncClient) -> None:
        if not config.issuer:
            raise ValueError(f"provider {name!r}: an OIDC provider needs `issuer`")
        self.name = name
        self.label = config.label or name
        self.config = config
        self.http = http
        self.issuer = config.issuer
        self.discovery_url = config.discovery_url or (
            self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._missed_at = float("-inf")

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            found = await self._get_json(self.discovery_url)
            if found.get("issuer") != self.issuer:
                raise failed("the discovery document names another issuer")
            self._metadata = found
        return self._metadata

    async def authorization_url(self, attempt: Attempt) -> str:
        meta = await self.metadata()
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": attempt.redirect_uri,
            "scope": " ".join(self.config.scopes or self.default_scopes),
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": pkce_challenge(attempt.verifier),
            "code_challenge_method": "S256",
        }
        if attempt.fresh_since is not None:  # a re-authentication: sign in there again, now
            query |= {"prompt": "login", "max_age": "0"}
        return f"{meta['authorization_endpoint']}?{urlencode(query)}"

    async def identify(self, *, code: str, attempt: Attempt) -> ExternalIdentity:
        meta = await self.metadata()
        try:
            answer = await self.http.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": attempt.redirect_uri,
                    "code_verifier": attempt.verifier,
                },
                auth=(self.config.client_id, self.config.client_secret.get_secret_value()),
                headers={"accept": "application/json"},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise failed(f"token endpoint unreachable: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise failed(f"token endpoint refused the code ({answer.status_code})")
        id_token = _json(answer).get("id_token")
        if not isinstance(id_token, str):
            raise failed("no id_token")
        claims = await self.validate(id_token, nonce=attempt.nonce, since=attempt.fresh_since)
        return ExternalIdentity(
            issuer=self.issuer,
            subject=claims["sub"],
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True,
            name=str(claims.get("name") or ""),
        )

    async def validate(
        self, id_token: str, *, nonce: str, since: float | None = None
    ) -> dict[str, Any]:
        """The claims of `id_token` if it is valid for this client and this attempt; with
        `since` (a re-authentication, `max_age=0` was sent), `auth_time` must be there and
        no earlier (OIDC Core 3.1.2.1: a provider asked `max_age` must return it)."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise failed("malformed id_token") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise failed(f"algorithm {algorithm!r} not allowed")
        key = await self._key(header.get("kid"))
        if key.key_type != _KEY_TYPE[algorithm[:2]]:
            raise failed("the key is not of this algorithm's type")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "iat"], "strict_aud": False},
            )
        except jwt.PyJWTError as error:
            raise failed(f"id_token: {type(error).__name__}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise failed("several audiences and azp is not this client")
        if claims["iat"] > time.time() + LEEWAY:
            raise failed("issued in the future")
        given = claims.get("nonce")
        if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
            raise failed("nonce missing or not this attempt's")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise failed("no subject")
        if since is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
                raise failed("no auth_time, though max_age was sent")
            if auth_time < since - LEEWAY:
                raise failed("auth_time: the sign-in there is not fresh")
        return claims

    async def _key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str):
            raise failed("no kid")
        found = self._keys.get(kid)
        if found is None and time.monotonic() - self._missed_at >= JWKS_REFETCH:
            await self._fetch_keys()  # the first time, a rotation at the issuer, or made up
            found = self._keys.get(kid)
            if found is None:
                self._missed_at = time.monotonic()
        if found is None:
            raise failed("unknown kid")
        return found

    async def _fetch_keys(self) -> None:
        meta = await self.metadata()
        document = await self._get_json(meta["jwks_uri"])
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            if entry.get("kty") == "oct":
                continue  # a shared secret has no place in a public key set
            try:
                keys[str(entry.get("kid", ""))] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
        self._keys = keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            answer = await self.http.get(url, timeout=TIMEOUT)
        except httpx.HTTPError as error:
            raise failed(f"{url} unreachable: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise failed(f"{url} answered {answer.status_code}")
        return _json(answer)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        raise failed("not JSON") from None
    if not isinstance(found, dict):
        raise failed("not a JSON object")
    return found
