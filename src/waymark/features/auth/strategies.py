"""Ways in, as strategies (the Passport / NextAuth idea): each has one small interface, is
registered through the `waymark.auth_strategies` entry points of any installed package, and
is turned on per deployment by settings (`auth.strategies`, `auth.providers`).

Two kinds: `password` checks a form (the accounts feature does the work); a redirect
strategy sends the browser to another site and turns what comes back (a code, with this
attempt's PKCE verifier and nonce) into an `ExternalIdentity`. What happens next, which
account that is and the session it gets, is the same for every strategy (`federation.py`).
docs/sign-in.md says how to write one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

import httpx

from waymark.kernel.identity import Account
from waymark.settings import AuthSettings, SignInProvider

ENTRY_POINTS = "waymark.auth_strategies"
FIRST_PARTY = frozenset({"webauthn"})
"""Ways in that need no provider's settings: passkeys (`features/auth/passkeys.py`)."""
RESERVED_CLAIMS = frozenset({"iss", "aud", "sub", "client_id", "iat", "nbf", "exp", "jti", "sid"})


@dataclass(frozen=True, kw_only=True)
class ExternalIdentity:
    """Who the other site says came back: (issuer, subject) is the identity; the address is
    only shown, and never links an account by itself."""

    issuer: str
    subject: str
    email: str = ""
    email_verified: bool = False
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One sign-in attempt's secrets, made fresh each time and kept server-side."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    fresh_since: float | None = None
    """A re-authentication: the person must sign in at the provider again, at or after this
    (epoch seconds), where the provider can be asked to (OIDC `prompt=login`, `max_age=0`)."""


class RedirectStrategy(Protocol):
    """A way in through another site (authorization code flow, PKCE S256)."""

    name: str
    """The provider's name in this deployment (the URL's segment)."""
    label: str
    """Shown on the button: `Sign in with <label>`."""

    async def authorization_url(self, attempt: Attempt) -> str:
        """Where to send the browser to sign in there."""
        ...

    async def identify(self, *, code: str, attempt: Attempt) -> ExternalIdentity:
        """Redeem `code` (with the attempt's verifier) and prove who it is; raise
        `SignInFailed` for anything that does not check out."""
        ...


StrategyFactory = Callable[[str, SignInProvider, httpx.AsyncClient], RedirectStrategy]
"""What an entry point names: builds a provider's strategy from its settings."""


class PasswordStrategy:
    """The password way in, registered like the others so a deployment can turn it off;
    the accounts feature checks the password (`Credentials.sign_in`)."""

    kind: ClassVar[str] = "form"


def load_factories(group: str = ENTRY_POINTS) -> dict[str, Any]:
    """Every strategy installed packages register, by name."""
    return {point.name: point.load() for point in entry_points(group=group)}


PRESETS: dict[str, dict[str, Any]] = {
    "google": {"strategy": "oidc", "issuer": "https://accounts.google.com", "label": "Google"},
    "github": {"strategy": "github", "label": "GitHub"},
}


def with_preset(config: SignInProvider) -> SignInProvider:
    """`config` with what its preset fills in where it says nothing."""
    preset = PRESETS.get(config.preset, {})
    given = config.model_dump(exclude_unset=True)
    return config.model_copy(update={k: v for k, v in preset.items() if k not in given})


def build_strategies(
    settings: AuthSettings, http: httpx.AsyncClient, factories: Mapping[str, Any] | None = None
) -> dict[str, RedirectStrategy]:
    """The redirect strategies this deployment turned on: each provider of
    `auth.providers` named in `auth.strategies`, built by its strategy's factory."""
    factories = load_factories() if factories is None else factories
    unknown = set(settings.strategies) - {"password", *FIRST_PARTY, *settings.providers}
    if unknown:
        raise ValueError(f"auth.strategies names no provider: {', '.join(sorted(unknown))}")
    built: dict[str, RedirectStrategy] = {}
    for name, raw in settings.providers.items():
        if name not in settings.strategies:
            continue
        config = with_preset(raw)
        factory = factories.get(config.strategy)
        if factory is None or getattr(factory, "kind", "") == "form":
            raise ValueError(f"provider {name!r}: no redirect strategy {config.strategy!r}")
        built[name] = factory(name, config, http)
    return built


class Callbacks:
    """Hooks a deployment sets (`auth.callbacks = "module:object"`), as NextAuth's `signIn`
    and `jwt`: `sign_in(account, identity)` may refuse a sign-in (False),
    `link(account_id, identity)` may refuse to link an identity to an account (False: from
    settings, by a mailed confirmation, or the one a sign-up through a provider makes), and
    `claims(account_id, claims)` adds claims to access tokens (never the registered ones).
    Any may be left out; with none, every sign-in and link that checks out goes ahead."""

    def __init__(self, hooks: object | None = None) -> None:
        self.hooks = hooks

    @classmethod
    def named(cls, path: str) -> Callbacks:
        if not path:
            return cls()
        module, _, attribute = path.partition(":")
        return cls(getattr(importlib.import_module(module), attribute))

    def allows(self, account: Account, identity: ExternalIdentity | None) -> bool:
        hook = getattr(self.hooks, "sign_in", None)
        return True if hook is None else bool(hook(account, identity))

    def allows_link(self, account_id: str, identity: ExternalIdentity) -> bool:
        hook = getattr(self.hooks, "link", None)
        return True if hook is None else bool(hook(account_id, identity))

    def claims(self, account_id: str) -> dict[str, Any]:
        hook = getattr(self.hooks, "claims", None)
        if hook is None:
            return {}
        extra = dict(hook(account_id, {}))
        return {k: v for k, v in extra.items() if k not in RESERVED_CLAIMS}
