"""Second factors are entry points that settings turn on (`auth.factors`, docs/sign-in.md):
one turned off is not offered at the challenge (API and page), not enrolled, not taken as an
answer (403 `factor-disabled`). An account whose factor was turned off after it enrolled is
asked for its other factors, and refused (403 `mfa-factors-off`) when none of them is on:
never let in on its password alone.

A deployment's settings change here as an operator's would: a second app, started on the
same database and files with other `auth.factors`. The example factor of docs/sign-in.md
(docs/examples/help_desk_factor.py) is installed as a package would install it: a
distribution's metadata on the path whose `entry_points.txt` registers it in
`waymark.second_factors`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.auth_helpers import (
    PASSWORD,
    Client,
    bearer,
    install_as_package,
    login_tokens,
    register_verified,
)
from tests.integration.test_passkey_second_factor import account_with
from tests.mfa_helpers import claims_of, code, enrol, enrol_on_page, next_step
from tests.passkey_authenticator import b64
from tests.web_helpers import browsing, csrf_of, member, post_form
from waymark.app import create_app
from waymark.features.auth.factors import (
    ENTRY_POINTS,
    FactorTools,
    RecoveryCodeFactor,
    build_factors,
)
from waymark.features.auth.relying_party import RelyingParty
from waymark.features.auth.strategies import load_factories
from waymark.infra.security.secret_box import SecretBox
from waymark.settings import Settings

pytestmark = pytest.mark.backend("sqlite")
LOGIN = "/api/v1/auth/login"
CHALLENGE = "/api/v1/auth/mfa/challenge"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
DESK_KEY = "5e" * 32


def with_factors(settings: Settings, *factors: str) -> Settings:
    return settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"factors": list(factors)})}
    )


@asynccontextmanager
async def deployment(settings: Settings, *factors: str) -> AsyncIterator[Client]:
    """The same site restarted with only `factors` on."""
    async with AsyncTestClient(app=create_app(with_factors(settings, *factors))) as client:
        yield client


async def sign_in(client: Client, email: str) -> dict[str, object]:
    login = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    body: dict[str, object] = login.json()
    assert body["mfa_required"] is True
    return body


def test_the_built_in_second_factors_are_entry_points() -> None:
    assert {"totp", "recovery", "email", "webauthn"} <= load_factories(ENTRY_POINTS).keys()


def test_an_unknown_factor_in_settings_stops_the_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"auth\.factors names no second factor: sms"):
        create_app(with_factors(settings, "totp", "sms"))


def test_a_factor_is_named_as_its_kind(settings: Settings, tmp_path: Path) -> None:
    tools = FactorTools(
        box=SecretBox.open(tmp_path / "box.key"), relying_party=RelyingParty(settings.public_url)
    )
    auth = settings.auth.model_copy(update={"factors": ["sms"]})
    with pytest.raises(ValueError, match="second factor 'sms': its kind is 'recovery'"):
        build_factors(auth, tools, factories={"sms": RecoveryCodeFactor})


@pytest.fixture
def help_desk_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_as_package(
        monkeypatch,
        tmp_path,
        EXAMPLES,
        distribution="waymark-help-desk-example",
        entry_points="[waymark.second_factors]\nhelp-desk = help_desk_factor:HelpDeskFactor\n",
    )
    monkeypatch.setenv("HELP_DESK_KEY", DESK_KEY)


@pytest.mark.usefixtures("help_desk_installed")
async def test_the_example_factor_answers_the_challenge(
    client: Client, settings: Settings, mail_dir: Path
) -> None:
    from help_desk_factor import help_desk_code  # docs/examples, on the path as installed

    email = "factors-desk@example.org"
    await register_verified(client, mail_dir, email)
    headers = bearer(await login_tokens(client, email))
    await enrol(client, headers)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    everything = ("totp", "recovery", "email", "webauthn", "help-desk")
    async with deployment(settings, *everything) as here:
        body = await sign_in(here, email)
        assert body["factors"] == ["totp", "recovery", "help-desk"]
        wrong = await here.post(
            CHALLENGE, json={"challenge": body["challenge"], "kind": "help-desk", "code": "0" * 10}
        )
        assert wrong.json()["code"] == "mfa-code-invalid"
        today = datetime.fromtimestamp(here.app.state.container.clock.time(), UTC).date()
        read_out = help_desk_code(bytes.fromhex(DESK_KEY), uuid.UUID(me["id"]), today)
        answered = await here.post(
            CHALLENGE, json={"challenge": body["challenge"], "kind": "help-desk", "code": read_out}
        )
        assert answered.status_code == 200, answered.text
        assert claims_of(answered.json()["access_token"])["amr"] == ["pwd", "tel", "mfa"]
    # Installed but not in `auth.factors`: off.
    async with deployment(settings, "totp", "recovery") as here:
        body = await sign_in(here, email)
        assert body["factors"] == ["totp", "recovery"]
        taken = await here.post(
            CHALLENGE, json={"challenge": body["challenge"], "kind": "help-desk", "code": read_out}
        )
        assert (taken.status_code, taken.json()["code"]) == (403, "factor-disabled")


async def test_codes_by_mail_turned_off(client: Client, settings: Settings, mail_dir: Path) -> None:
    email = "factors-mail@example.org"
    await register_verified(client, mail_dir, email)
    headers = bearer(await login_tokens(client, email))
    secret, _ = await enrol(client, headers)
    assert (await client.post("/api/v1/me/mfa/email", headers=headers)).status_code == 204
    assert (await sign_in(client, email))["factors"] == ["totp", "recovery", "email"]

    async with deployment(settings, "totp", "recovery", "webauthn") as here:
        body = await sign_in(here, email)
        assert body["factors"] == ["totp", "recovery"]  # not offered
        challenge = str(body["challenge"])
        mailed = await here.post(f"{CHALLENGE}/email", json={"challenge": challenge})
        assert (mailed.status_code, mailed.json()["code"]) == (403, "factor-disabled")
        taken = await here.post(
            CHALLENGE, json={"challenge": challenge, "kind": "email", "code": "123456"}
        )
        assert (taken.status_code, taken.json()["code"]) == (403, "factor-disabled")
        next_step(here)
        answered = await here.post(
            CHALLENGE, json={"challenge": challenge, "code": code(here, secret)}
        )
        assert answered.status_code == 200, answered.text  # no try was counted for it
        enrolled = await here.post("/api/v1/me/mfa/email", headers=bearer(answered.json()))
        assert (enrolled.status_code, enrolled.json()["code"]) == (403, "factor-disabled")


async def test_an_app_turned_off_leaves_the_accounts_other_factors(
    client: Client, settings: Settings, mail_dir: Path
) -> None:
    email = "factors-app@example.org"
    await register_verified(client, mail_dir, email)
    secret, codes = await enrol(client, bearer(await login_tokens(client, email)))

    async with deployment(settings, "recovery", "email", "webauthn") as here:
        body = await sign_in(here, email)  # MFA is still on: a challenge, not tokens
        assert body["factors"] == ["recovery"]
        challenge = str(body["challenge"])
        next_step(here)
        app_code = await here.post(
            CHALLENGE, json={"challenge": challenge, "code": code(here, secret)}
        )
        assert (app_code.status_code, app_code.json()["code"]) == (403, "factor-disabled")
        answered = await here.post(
            CHALLENGE, json={"challenge": challenge, "kind": "recovery", "code": codes[0]}
        )
        assert answered.status_code == 200, answered.text
        assert claims_of(answered.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]
        headers = bearer(answered.json())
        status = (await here.get("/api/v1/me/mfa", headers=headers)).json()
        assert status == {"enabled": True, "factors": ["recovery"], "recovery_codes_left": 9}
        started = await here.post("/api/v1/me/mfa/totp", headers=headers)
        assert (started.status_code, started.json()["code"]) == (403, "factor-disabled")

    # Nothing of the account's on: refused, never let in on the password alone.
    async with deployment(settings, "email", "webauthn") as here:
        refused = await here.post(LOGIN, json={"email": email, "password": PASSWORD})
        assert (refused.status_code, refused.json()["code"]) == (403, "mfa-factors-off")
        assert "access_token" not in refused.json()
        assert "set-cookie" not in refused.headers
        # An account without MFA signs in as before.
        plain = "factors-plain@example.org"
        await register_verified(here, mail_dir, plain)
        assert "access_token" in await login_tokens(here, plain)


async def test_recovery_codes_turned_off(settings: Settings, mail_dir: Path) -> None:
    email = "factors-recovery@example.org"
    async with deployment(settings, "totp", "email", "webauthn") as here:
        await register_verified(here, mail_dir, email)
        headers = bearer(await login_tokens(here, email))
        _, codes = await enrol(here, headers)
        assert codes == []  # none made
        again = await here.post("/api/v1/me/mfa/recovery-codes", headers=headers)
        assert (again.status_code, again.json()["code"]) == (403, "factor-disabled")
        body = await sign_in(here, email)
        assert body["factors"] == ["totp"]
        taken = await here.post(
            CHALLENGE,
            json={"challenge": body["challenge"], "kind": "recovery", "code": "abcde-fghjk"},
        )
        assert (taken.status_code, taken.json()["code"]) == (403, "factor-disabled")


async def test_a_passkey_turned_off_as_a_second_factor(
    app: Litestar, client: Client, settings: Settings, mail_dir: Path
) -> None:
    email = "factors-passkey@example.org"
    key = await account_with(app, client, mail_dir, email)
    async with deployment(settings, "totp", "recovery") as here:
        body = await sign_in(here, email)
        assert body["factors"] == ["totp", "recovery"]
        began = await here.post(f"{CHALLENGE}/passkey", json={"challenge": body["challenge"]})
        assert (began.status_code, began.json()["code"]) == (403, "factor-disabled")
    # On in `auth.factors` but not a way in (`auth.strategies`): off too.
    only_passwords = settings.auth.model_copy(update={"strategies": ["password"]})
    elsewhere = create_app(settings.model_copy(update={"auth": only_passwords}))
    async with AsyncTestClient(app=elsewhere) as here:
        body = await sign_in(here, email)
        assert body["factors"] == ["totp", "recovery"]
        assertion = key.get({"challenge": b64(b"not asked for here")})
        taken = await here.post(
            CHALLENGE,
            json={"challenge": body["challenge"], "kind": "webauthn", "credential": assertion},
        )
        assert (taken.status_code, taken.json()["code"]) == (403, "factor-disabled")


async def test_the_pages_offer_only_what_is_on(settings: Settings, mail_dir: Path) -> None:
    email = "factors-pages@example.org"
    async with browsing(create_app(with_factors(settings, "totp", "webauthn"))) as web:
        await member(web, mail_dir, email)
        _, confirmed = await enrol_on_page(web)
        assert confirmed.headers["location"] == "/settings/mfa?notice=mfa-on"  # no codes
        on = (await web.get(confirmed.headers["location"])).text
        assert "It is on" in on
        assert "New recovery codes" not in on
        assert "Codes by mail" not in on
        assert 'value="recovery"' not in on
        await web.post("/logout", data={"csrf_token": csrf_of(on)})
        await post_form(web, "/login", "/login", {"email": email, "password": PASSWORD})
        challenge = (await web.get("/login/mfa")).text
        assert '<input type="hidden" name="kind" value="totp">' in challenge
        assert 'value="recovery"' not in challenge
        assert "Mail me a code instead" not in challenge
    async with browsing(create_app(with_factors(settings, "recovery"))) as web:
        refused = await post_form(web, "/login", "/login", {"email": email, "password": PASSWORD})
        assert refused.status_code == 403  # the app was its one factor
        assert "Every second factor of this account is turned off here" in refused.text
        assert "__Host-waymark_session" not in refused.headers.get("set-cookie", "")
