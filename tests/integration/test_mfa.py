"""Two-step verification over the API, on SQLite and PostgreSQL: enrolment, the challenge
on every way in (and the ways around it, each refused), replay, tries, recovery codes,
step-up, rate limits."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.auth_helpers import (
    PASSWORD,
    RESET,
    Client,
    bearer,
    login_tokens,
    register_verified,
    text_of,
    token_in,
    wait_for_mail,
)
from tests.mfa_helpers import claims_of, code, enrol, next_step, secret_of

SQLITE_ONLY = pytest.mark.backend("sqlite")
"""Checks of the flow, not of the database: one backend is enough (the SQL each runs is
covered on both by the tests left on both)."""
LOGIN = "/api/v1/auth/login"
CHALLENGE = "/api/v1/auth/mfa/challenge"
NEW = "quite another passphrase"
SIGN_IN_CODE = "Your sign-in code"


async def mfa_account(client: Client, mail_dir: Path, email: str) -> tuple[bytes, list[str]]:
    await register_verified(client, mail_dir, email)
    secret, codes = await enrol(client, bearer(await login_tokens(client, email)))
    next_step(client)
    return secret, codes


async def challenge(client: Client, email: str, mode: str = "token") -> str:
    login = await client.post(LOGIN, json={"email": email, "password": PASSWORD, "mode": mode})
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["mfa_required"] is True
    assert "access_token" not in body
    assert "refresh_token" not in body
    assert "set-cookie" not in login.headers
    assert body["factors"] == ["totp", "recovery"]
    return str(body["challenge"])


async def test_enrolment_and_the_token_sign_in_that_follows(client: Client, mail_dir: Path) -> None:
    email = "mfa-ada@example.org"
    await register_verified(client, mail_dir, email)
    headers = bearer(await login_tokens(client, email))
    status = await client.get("/api/v1/me/mfa", headers=headers)
    assert status.json() == {"enabled": False, "factors": [], "recovery_codes_left": 0}
    started = await client.post("/api/v1/me/mfa/totp", headers=headers)
    enrolment = started.json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Waymark:mfa-ada@example.org?")
    assert enrolment["qr_svg"].startswith("<svg")
    assert len(secret_of(enrolment)) == 20  # 160 bits
    secret = secret_of(enrolment)
    wrong = await client.post(
        "/api/v1/me/mfa/totp/confirm",
        json={"code": "000000", "password": PASSWORD},
        headers=headers,
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "mfa-code-invalid"
    # A stolen session alone cannot turn it on: the password is asked again.
    stolen = await client.post(
        "/api/v1/me/mfa/totp/confirm",
        json={"code": code(client, secret), "password": "a guess"},
        headers=headers,
    )
    assert stolen.json()["code"] == "wrong-password"
    # Not on until confirmed: a sign-in still gets tokens.
    assert "access_token" in await login_tokens(client, email)
    confirmed = await client.post(
        "/api/v1/me/mfa/totp/confirm",
        json={"code": code(client, secret), "password": PASSWORD},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert len(set(confirmed.json()["recovery_codes"])) == 10
    again = await client.post("/api/v1/me/mfa/totp", headers=headers)
    assert again.json()["code"] == "mfa-already-on"

    next_step(client)
    token = await challenge(client, email)
    # The challenge is no bearer token.
    assert (
        await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    ).status_code == 401
    answered = await client.post(CHALLENGE, json={"challenge": token, "code": code(client, secret)})
    assert answered.status_code == 200, answered.text
    tokens = answered.json()
    claims = claims_of(tokens["access_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "aal2"
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 200
    # Refreshing keeps what the sign-in proved.
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert claims_of(refreshed.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    # Single use.
    reused = await client.post(CHALLENGE, json={"challenge": token, "code": code(client, secret)})
    assert reused.status_code == 401
    assert reused.json()["code"] == "mfa-challenge-ended"


async def test_a_code_replayed_in_its_step_is_refused(client: Client, mail_dir: Path) -> None:
    email = "mfa-replay@example.org"
    secret, _ = await mfa_account(client, mail_dir, email)
    used = code(client, secret)
    first = await client.post(
        CHALLENGE, json={"challenge": await challenge(client, email), "code": used}
    )
    assert first.status_code == 200, first.text
    replay = await client.post(
        CHALLENGE, json={"challenge": await challenge(client, email), "code": used}
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "mfa-code-invalid"
    # Nor a code of the step before the one accepted (inside the skew window).
    older = code(client, secret, steps_ahead=-1)
    stale = await client.post(
        CHALLENGE, json={"challenge": await challenge(client, email), "code": older}
    )
    assert stale.json()["code"] == "mfa-code-invalid"


async def test_five_wrong_codes_end_the_challenge(client: Client, mail_dir: Path) -> None:
    email = "mfa-tries@example.org"
    secret, _ = await mfa_account(client, mail_dir, email)
    token = await challenge(client, email)
    for _ in range(4):
        wrong = await client.post(CHALLENGE, json={"challenge": token, "code": "123456"})
        assert wrong.json()["code"] == "mfa-code-invalid"
    fifth = await client.post(CHALLENGE, json={"challenge": token, "code": "123456"})
    assert fifth.status_code == 401
    assert fifth.json()["code"] == "mfa-challenge-ended"
    right = await client.post(CHALLENGE, json={"challenge": token, "code": code(client, secret)})
    assert right.json()["code"] == "mfa-challenge-ended"


@SQLITE_ONLY
async def test_session_mode_sign_in_gets_its_cookie_only_after_the_challenge(
    client: Client, mail_dir: Path
) -> None:
    email = "mfa-browser@example.org"
    secret, _ = await mfa_account(client, mail_dir, email)
    token = await challenge(client, email, mode="session")
    answered = await client.post(CHALLENGE, json={"challenge": token, "code": code(client, secret)})
    assert answered.status_code == 200, answered.text
    assert answered.headers["set-cookie"].startswith("__Host-waymark_session=")
    cookie = {"cookie": answered.headers["set-cookie"].split(";")[0]}
    csrf = answered.json()["csrf_token"]
    assert (await client.get("/api/v1/me", headers=cookie)).status_code == 200
    # The challenge ended in what it was begun for: a session, not tokens.
    assert "access_token" not in answered.json()
    # A second factor proved at sign-in counts as a step-up: turning MFA off is allowed.
    off = await client.delete("/api/v1/me/mfa", headers=cookie | {"x-csrf-token": csrf})
    assert off.status_code == 204, off.text
    assert "access_token" in await login_tokens(client, email)


@SQLITE_ONLY
async def test_enrolling_on_a_browser_session_regenerates_its_id(
    client: Client, mail_dir: Path
) -> None:
    email = "mfa-regenerate@example.org"
    await register_verified(client, mail_dir, email)
    login = await client.post(LOGIN, json={"email": email, "password": PASSWORD, "mode": "session"})
    old = {"cookie": login.headers["set-cookie"].split(";")[0]}
    csrf = login.json()["csrf_token"]
    started = await client.post("/api/v1/me/mfa/totp", headers=old | {"x-csrf-token": csrf})
    secret = secret_of(started.json())
    confirmed = await client.post(
        "/api/v1/me/mfa/totp/confirm",
        json={"code": code(client, secret), "password": PASSWORD},
        headers=old | {"x-csrf-token": csrf},
    )
    assert confirmed.status_code == 200, confirmed.text
    new = {"cookie": confirmed.headers["set-cookie"].split(";")[0]}
    assert new != old
    assert confirmed.headers["x-csrf-token"] != csrf
    assert (await client.get("/api/v1/me", headers=old)).status_code == 401
    assert (await client.get("/api/v1/me", headers=new)).status_code == 200
    # A step-up raises what the session may do: a new id again, and it is the new one that
    # counts as stepped up.
    next_step(client)
    stepped = await client.post(
        "/api/v1/me/mfa/step-up",
        json={"code": code(client, secret)},
        headers=new | {"x-csrf-token": confirmed.headers["x-csrf-token"]},
    )
    assert stepped.status_code == 204, stepped.text
    newest = {"cookie": stepped.headers["set-cookie"].split(";")[0]}
    assert (await client.get("/api/v1/me", headers=new)).status_code == 401
    regenerated = await client.post(
        "/api/v1/me/mfa/recovery-codes",
        headers=newest | {"x-csrf-token": stepped.headers["x-csrf-token"]},
    )
    assert regenerated.status_code == 200, regenerated.text


async def test_sessions_from_before_mfa_end_and_a_refresh_never_upgrades(
    client: Client, mail_dir: Path
) -> None:
    email = "mfa-refresh@example.org"
    await register_verified(client, mail_dir, email)
    enrolling = await login_tokens(client, email)
    elsewhere = await login_tokens(client, email)
    await enrol(client, bearer(enrolling))
    # The other family proved no second factor: it ended when MFA went on.
    stale = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}
    )
    assert stale.status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(elsewhere))).status_code == 401
    # The family that enrolled lives on, but its refreshes still say only a password.
    kept = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": enrolling["refresh_token"]}
    )
    assert kept.status_code == 200, kept.text
    claims = claims_of(kept.json()["access_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "aal1"


@SQLITE_ONLY
async def test_a_password_reset_does_not_skip_mfa(client: Client, mail_dir: Path) -> None:
    email = "mfa-reset@example.org"
    await mfa_account(client, mail_dir, email)
    await client.post("/api/v1/auth/password/forgot", json={"email": email})
    token = token_in(await wait_for_mail(mail_dir, email, RESET))
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "brand new passphrase"}
    )
    assert reset.status_code == 204, reset.text
    assert "set-cookie" not in reset.headers
    login = await client.post(LOGIN, json={"email": email, "password": "brand new passphrase"})
    assert login.json()["mfa_required"] is True


@SQLITE_ONLY
async def test_a_challenge_is_answered_only_by_its_own_account(
    client: Client, mail_dir: Path
) -> None:
    ada, _ = await mfa_account(client, mail_dir, "mfa-one@example.org")
    bob, _ = await mfa_account(client, mail_dir, "mfa-two@example.org")
    token = await challenge(client, "mfa-one@example.org")
    crossed = await client.post(CHALLENGE, json={"challenge": token, "code": code(client, bob)})
    assert crossed.json()["code"] == "mfa-code-invalid"
    forged = await client.post(CHALLENGE, json={"challenge": "x" * 43, "code": code(client, ada)})
    assert forged.json()["code"] == "mfa-challenge-ended"
    mine = await client.post(CHALLENGE, json={"challenge": token, "code": code(client, ada)})
    assert mine.status_code == 200


async def test_a_recovery_code_works_once(client: Client, mail_dir: Path) -> None:
    email = "mfa-recovery@example.org"
    _, codes = await mfa_account(client, mail_dir, email)
    typed = codes[3].upper().replace("-", " ")  # as someone might type it off paper
    used = await client.post(
        CHALLENGE,
        json={"challenge": await challenge(client, email), "kind": "recovery", "code": typed},
    )
    assert used.status_code == 200, used.text
    again = await client.post(
        CHALLENGE,
        json={"challenge": await challenge(client, email), "kind": "recovery", "code": codes[3]},
    )
    assert again.json()["code"] == "mfa-code-invalid"
    status = await client.get("/api/v1/me/mfa", headers=bearer(used.json()))
    assert status.json()["recovery_codes_left"] == 9


@SQLITE_ONLY
async def test_step_up_is_required_then_satisfied(client: Client, mail_dir: Path) -> None:
    email = "mfa-step-up@example.org"
    secret, codes = await mfa_account(client, mail_dir, email)
    answered = await client.post(
        CHALLENGE, json={"challenge": await challenge(client, email), "code": code(client, secret)}
    )
    headers = bearer(answered.json())
    client.app.state.container.clock.offset += 11 * 60  # the sign-in's factor is no longer recent
    # (the access token lives 10 minutes: refresh for a current one)
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": answered.json()["refresh_token"]}
    )
    headers = bearer(refreshed.json())
    refused = await client.post("/api/v1/me/mfa/recovery-codes", headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "step-up-required"
    sensitive = [
        ("DELETE", "/api/v1/me/mfa", None),
        (
            "POST",
            "/api/v1/auth/password/change",
            {"current_password": PASSWORD, "new_password": NEW},
        ),
        ("POST", "/api/v1/me/email", {"password": PASSWORD, "new_email": "elsewhere@example.org"}),
        ("DELETE", "/api/v1/me", {"password": PASSWORD}),
        ("POST", f"/api/v1/teams/{uuid.uuid4()}/transfer", {"account_id": str(uuid.uuid4())}),
    ]
    for method, path, body in sensitive:
        answer = await client.request(method, path, json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (403, "step-up-required"), path
    wrong = await client.post("/api/v1/me/mfa/step-up", json={"code": "000000"}, headers=headers)
    assert wrong.json()["code"] == "mfa-code-invalid"
    stepped = await client.post(
        "/api/v1/me/mfa/step-up", json={"code": code(client, secret)}, headers=headers
    )
    assert stepped.status_code == 204, stepped.text
    fresh = await client.post("/api/v1/me/mfa/recovery-codes", headers=headers)
    assert fresh.status_code == 200
    new_codes = fresh.json()["recovery_codes"]
    assert not set(new_codes) & set(codes)
    old = await client.post(
        CHALLENGE,
        json={"challenge": await challenge(client, email), "kind": "recovery", "code": codes[0]},
    )
    assert old.json()["code"] == "mfa-code-invalid"  # the old set is void
    changed = await client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text


@SQLITE_ONLY
async def test_second_factor_tries_are_rate_limited(client: Client, mail_dir: Path) -> None:
    email = "mfa-limit@example.org"
    await mfa_account(client, mail_dir, email)
    answers = [
        await client.post(
            CHALLENGE, json={"challenge": await challenge(client, email), "code": "000000"}
        )
        for _ in range(11)
    ]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    limited = answers[10]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["code"] == "rate-limited"


async def test_a_mailed_code_works_for_its_own_sign_in_only(client: Client, mail_dir: Path) -> None:
    email = "mfa-mail@example.org"
    await register_verified(client, mail_dir, email)
    headers = bearer(await login_tokens(client, email))
    await enrol(client, headers)
    assert (await client.post("/api/v1/me/mfa/email", headers=headers)).status_code == 204
    next_step(client)

    async def begin() -> str:
        login = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
        assert login.json()["factors"] == ["totp", "recovery", "email"]
        return str(login.json()["challenge"])

    mine, other = await begin(), await begin()
    sent = await client.post(f"{CHALLENGE}/email", json={"challenge": mine})
    assert sent.status_code == 202, sent.text
    mailed = re.search(r"\b(\d{6})\b", text_of(await wait_for_mail(mail_dir, email, SIGN_IN_CODE)))
    assert mailed
    elsewhere = await client.post(
        CHALLENGE, json={"challenge": other, "kind": "email", "code": mailed.group(1)}
    )
    assert elsewhere.json()["code"] == "mfa-code-invalid"
    used = await client.post(
        CHALLENGE, json={"challenge": mine, "kind": "email", "code": mailed.group(1)}
    )
    assert used.status_code == 200, used.text
    assert claims_of(used.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    # Three mails per challenge at most.
    answers = [
        (await client.post(f"{CHALLENGE}/email", json={"challenge": other})).status_code
        for _ in range(4)
    ]
    assert answers == [202, 202, 202, 429]


@SQLITE_ONLY
async def test_no_mailed_code_for_an_account_that_did_not_turn_them_on(
    client: Client, mail_dir: Path
) -> None:
    email = "mfa-no-mail@example.org"
    await mfa_account(client, mail_dir, email)
    refused = await client.post(
        f"{CHALLENGE}/email", json={"challenge": await challenge(client, email)}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "mfa-email-off")
