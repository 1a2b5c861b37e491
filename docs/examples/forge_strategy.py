"""An example sign-in strategy (docs/sign-in.md): a forge such as Gitea or Forgejo, over
OAuth 2.0 without OpenID Connect. The identity is the numeric `id` its user API answers for
the access token the code is redeemed for, under the issuer the deployment names.

A package registers it in its pyproject.toml:

    [project.entry-points."waymark.auth_strategies"]
    forge = "forge_strategy:ForgeStrategy"

and a deployment turns it on:

    WAYMARK_AUTH__STRATEGIES='["password", "forge"]'
    WAYMARK_AUTH__PROVIDERS='{"forge": {"strategy": "forge", "label": "Our forge",
      "issuer": "https://git.example.org", "client_id": "...", "client_secret": "...",
      "endpoints": {"authorize": "https://git.example.org/login/oauth/authorize",
                    "token": "https://git.example.org/login/oauth/access_token",
                    "api": "https://git.example.org/api/v1"}}}'

tests/integration/oidc/test_strategies.py installs it through the entry-point mechanism
and signs in with it.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from waymark.features.auth.errors import SignInFailed
from waymark.features.auth.oidc import pkce_challenge
from waymark.features.auth.strategies import Attempt, ExternalIdentity
from waymark.settings import SignInProvider


class ForgeStrategy:
    def __init__(self, name: str, config: SignInProvider, http: httpx.AsyncClient) -> None:
        if not config.issuer or not {"authorize", "token", "api"} <= config.endpoints.keys():
            raise ValueError(f"provider {name!r}: needs issuer and endpoints authorize/token/api")
        self.name = name
        self.label = config.label or name
        self.config = config
        self.http = http

    async def authorization_url(self, attempt: Attempt) -> str:
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": attempt.redirect_uri,
            "state": attempt.state,
            "code_challenge": pkce_challenge(attempt.verifier),
            "code_challenge_method": "S256",
        }
        return f"{self.config.endpoints['authorize']}?{urlencode(query)}"

    async def identify(self, *, code: str, attempt: Attempt) -> ExternalIdentity:
        try:
            token = await self.http.post(
                self.config.endpoints["token"],
                data={
                    "grant_type": "authorization_code",
                    "client_id": self.config.client_id,
                    "client_secret": self.config.client_secret.get_secret_value(),
                    "code": code,
                    "redirect_uri": attempt.redirect_uri,
                    "code_verifier": attempt.verifier,
                },
                headers={"accept": "application/json"},
            )
            access = token.json().get("access_token")
            if not access:
                raise SignInFailed("the forge refused the code")
            user = await self.http.get(
                f"{self.config.endpoints['api']}/user",
                headers={"authorization": f"Bearer {access}"},
            )
            user_id = user.json().get("id") if user.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            raise SignInFailed("the forge did not answer") from None
        if not isinstance(user_id, int):
            raise SignInFailed("the forge named no user")
        return ExternalIdentity(issuer=self.config.issuer, subject=str(user_id))
