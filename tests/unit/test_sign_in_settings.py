"""Sign-in providers from settings: presets fill in what they know, and a strategy that is
turned on but configured nowhere stops the start (never silently off)."""

from __future__ import annotations

import httpx
import pytest

from waymark.features.auth.github import GitHubStrategy
from waymark.features.auth.oidc import OidcStrategy, pkce_challenge
from waymark.features.auth.relying_party import RelyingParty
from waymark.features.auth.strategies import build_strategies, with_preset
from waymark.settings import AuthSettings, SignInProvider


def provider(**values: object) -> SignInProvider:
    return SignInProvider(client_id="id", client_secret="s3cr3t-value", **values)  # type: ignore[arg-type]


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_google_preset_is_oidc_at_googles_issuer() -> None:
    google = with_preset(provider(preset="google"))
    assert (google.strategy, google.issuer) == ("oidc", "https://accounts.google.com")


def test_a_preset_never_overrides_what_settings_say() -> None:
    assert with_preset(provider(preset="google", label="Work account")).label == "Work account"


def test_the_secret_is_never_shown() -> None:
    assert "s3cr3t-value" not in repr(provider(preset="github"))


async def test_providers_are_built_by_their_strategies() -> None:
    settings = AuthSettings(
        strategies=["google", "github"],
        providers={"google": provider(preset="google"), "github": provider(preset="github")},
    )
    async with httpx.AsyncClient() as http:
        built = build_strategies(settings, http)
    assert isinstance(built["google"], OidcStrategy)
    assert isinstance(built["github"], GitHubStrategy)


async def test_a_provider_not_turned_on_is_not_built() -> None:
    settings = AuthSettings(providers={"google": provider(preset="google")})
    async with httpx.AsyncClient() as http:
        assert build_strategies(settings, http) == {}


async def test_a_strategy_turned_on_but_configured_nowhere_is_refused() -> None:
    settings = AuthSettings(strategies=["password", "okta"])
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="okta"):
            build_strategies(settings, http)


async def test_passkeys_are_on_without_a_provider_and_build_no_redirect() -> None:
    settings = AuthSettings(strategies=["webauthn"])
    async with httpx.AsyncClient() as http:
        assert build_strategies(settings, http) == {}
    assert "webauthn" in AuthSettings().strategies  # on by default, beside passwords


def test_the_relying_party_is_the_public_urls_host_and_origin() -> None:
    rp = RelyingParty("https://learn.example.org:8443/some/path")
    assert (rp.id, rp.origin) == ("learn.example.org", "https://learn.example.org:8443")
