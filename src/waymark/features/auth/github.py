"""GitHub: OAuth 2.0 without OpenID Connect. No ID token: the identity is the numeric user
id its user API (`GET /user`) answers for the access token the code is redeemed for; the
address comes from `GET /user/emails` (the primary one, with GitHub's own `verified`).
The authorization code flow still carries `state` and PKCE S256 (GitHub accepts it).

A re-authentication (`Attempt.fresh_since`) is a new round-trip and nothing more: GitHub has
no `prompt=login` or `max_age`, and a browser signed in there comes back without being asked
anything. It proves the person holds this browser's GitHub session now, not that they typed
GitHub's password again (docs/sign-in.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from waymark.features.auth.oidc import TIMEOUT, failed, pkce_challenge
from waymark.features.auth.strategies import Attempt, ExternalIdentity
from waymark.settings import SignInProvider

ENDPOINTS = {
    "authorize": "https://github.com/login/oauth/authorize",
    "token": "https://github.com/login/oauth/access_token",
    "api": "https://api.github.com",
}
ISSUER = "https://github.com"


class GitHubStrategy:
    def __init__(self, name: str, config: SignInProvider, http: httpx.AsyncClient) -> None:
        self.name = name
        self.label = config.label or "GitHub"
        self.config = config
        self.http = http
        self.endpoints = ENDPOINTS | config.endpoints
        # A stand-in or GitHub Enterprise names its own issuer: identities never mix.
        self.issuer = config.issuer or ISSUER

    async def authorization_url(self, attempt: Attempt) -> str:
        query = {
            "client_id": self.config.client_id,
            "redirect_uri": attempt.redirect_uri,
            "scope": " ".join(self.config.scopes or ("read:user", "user:email")),
            "state": attempt.state,
            "code_challenge": pkce_challenge(attempt.verifier),
            "code_challenge_method": "S256",
            "allow_signup": "false",
        }
        return f"{self.endpoints['authorize']}?{urlencode(query)}"

    async def identify(self, *, code: str, attempt: Attempt) -> ExternalIdentity:
        token = await self._call(
            "POST",
            self.endpoints["token"],
            data={
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret.get_secret_value(),
                "code": code,
                "redirect_uri": attempt.redirect_uri,
                "code_verifier": attempt.verifier,
            },
        )
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise failed(f"github refused the code ({token.get('error', 'no token')})")
        headers = {
            "authorization": f"Bearer {access}",
            "accept": "application/vnd.github+json",
            "x-github-api-version": "2022-11-28",
        }
        api = self.endpoints["api"].rstrip("/")
        user = await self._call("GET", f"{api}/user", headers=headers)
        user_id = user.get("id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise failed("github: no user id")
        emails = await self._call("GET", f"{api}/user/emails", headers=headers, listing=True)
        primary = next((e for e in emails["items"] if isinstance(e, dict) and e.get("primary")), {})
        return ExternalIdentity(
            issuer=self.issuer,
            subject=str(user_id),
            email=str(primary.get("email") or ""),
            email_verified=primary.get("verified") is True,
            name=str(user.get("name") or user.get("login") or ""),
        )

    async def _call(
        self, method: str, url: str, *, listing: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        kwargs.setdefault("headers", {"accept": "application/json"})
        try:
            answer = await self.http.request(method, url, timeout=TIMEOUT, **kwargs)
            found = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise failed(f"github: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise failed(f"github answered {answer.status_code}")
        if listing:
            if not isinstance(found, list):
                raise failed("github: not a list")
            return {"items": found}
        if not isinstance(found, dict):
            raise failed("github: not an object")
        return found
