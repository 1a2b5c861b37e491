"""The WebAuthn relying party (py_webauthn underneath): the options a browser hands to
`navigator.credentials.create()` / `.get()`, and the checks of what comes back.

Stateless and free of storage: the caller keeps challenges and credentials. `verify_assertion`
is the one check of an assertion, whatever it is used for (a first factor here; a second
factor at MFA's challenge can call it the same way).

The relying-party id is the host of `WAYMARK_PUBLIC_URL`, the only origin accepted is that
URL's origin. User verification is required both to register and to assert: a passkey is a
first factor on its own. The signature counter: a counter that does not go up (when either
side is non-zero) is refused as `PasskeyCounterRegressed`, only once the signature checks out
(so it does mean a second copy of the key, not a forgery).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from waymark.features.auth.errors import PasskeyCounterRegressed, PasskeyRefused

log = structlog.get_logger(__name__)

TIMEOUT_MS = 120_000
"""What the options ask of the browser; the ceremony itself lives a little longer."""
UNREADABLE = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, IndexError)
"""What py_webauthn raises on bytes it cannot read or that do not verify."""


@dataclass(frozen=True)
class NewCredential:
    """A registration that verified: what to store."""

    credential_id: str
    public_key: bytes
    sign_count: int
    aaguid: str
    backed_up: bool
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Assertion:
    """An assertion that verified, against a stored credential."""

    credential_id: str
    sign_count: int
    user_verified: bool
    backed_up: bool

    @property
    def key_amr(self) -> str:
        """RFC 8176: `swk` for a synced (backed-up, software-held) passkey, `hwk` for one
        bound to its device."""
        return "swk" if self.backed_up else "hwk"

    @property
    def amr(self) -> tuple[str, ...]:
        """RFC 8176 methods: the key's (`key_amr`); `user` (presence, always) and, with user
        verification (a PIN or biometric on the authenticator), `mfa`: the key and what
        unlocked it are two factors."""
        key = self.key_amr
        return (key, "user", "mfa") if self.user_verified else (key, "user")


def user_handle(account_id: uuid.UUID) -> bytes:
    """The WebAuthn user handle of an account: the 16 bytes of its id (no name, no address).
    One per account, so an authenticator keeps one passkey per account here."""
    return account_id.bytes


def credential_id_of(credential: dict[str, Any]) -> str:
    """The credential id an assertion names (base64url), before anything is verified."""
    try:
        parsed = parse_authentication_credential_json(json.dumps(credential))
    except UNREADABLE as error:
        raise PasskeyRefused("unreadable assertion") from error
    return bytes_to_base64url(parsed.raw_id)


def user_handle_of(credential: dict[str, Any]) -> bytes | None:
    parsed: AuthenticationCredential = parse_authentication_credential_json(json.dumps(credential))
    return parsed.response.user_handle


class RelyingParty:
    def __init__(self, public_url: str, *, name: str = "Waymark") -> None:
        parts = urlsplit(public_url)
        if not parts.hostname:
            raise ValueError(f"public URL without a host: {public_url!r}")
        self.id = parts.hostname
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.name = name

    def registration_options(
        self,
        *,
        challenge: bytes,
        account_id: uuid.UUID,
        user_name: str,
        display_name: str,
        exclude: list[str],
    ) -> dict[str, Any]:
        """Options for `navigator.credentials.create()`: a discoverable credential
        (`residentKey: required`) with user verification, none of `exclude` again."""
        options = generate_registration_options(
            rp_id=self.id,
            rp_name=self.name,
            user_id=user_handle(account_id),
            user_name=user_name,
            user_display_name=display_name or user_name,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in exclude
            ],
        )
        return dict(json.loads(options_to_json(options)))

    def verify_registration(self, credential: dict[str, Any], *, challenge: bytes) -> NewCredential:
        try:
            parsed = parse_registration_credential_json(json.dumps(credential))
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.id,
                expected_origin=self.origin,
                require_user_verification=True,
            )
        except UNREADABLE as error:
            raise PasskeyRefused(f"registration refused: {error}") from error
        known = {t.value for t in AuthenticatorTransport}
        transports = tuple(t.value for t in parsed.response.transports or () if t.value in known)
        return NewCredential(
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            aaguid=verified.aaguid,
            backed_up=verified.credential_backed_up,
            transports=transports,
        )

    def authentication_options(
        self, *, challenge: bytes, allow: list[str] | None = None
    ) -> dict[str, Any]:
        """Options for `navigator.credentials.get()`: no `allowCredentials` (the
        authenticator offers the passkeys it holds for this site: username-less) unless
        `allow` names some (a second factor for a known account)."""
        options = generate_authentication_options(
            rp_id=self.id,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in allow or ()
            ],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return dict(json.loads(options_to_json(options)))

    def verify_assertion(
        self,
        credential: dict[str, Any],
        *,
        challenge: bytes,
        public_key: bytes,
        sign_count: int,
        require_user_verification: bool = True,
    ) -> Assertion:
        """Check an assertion against the stored credential: the challenge, origin, rp id
        hash, user presence and (unless told otherwise) verification, the signature, then
        the counter."""
        try:
            verified = verify_authentication_response(
                credential=json.dumps(credential),
                expected_challenge=challenge,
                expected_rp_id=self.id,
                expected_origin=self.origin,
                credential_public_key=public_key,
                credential_current_sign_count=0,  # the counter is checked below, after
                require_user_verification=require_user_verification,
            )
        except UNREADABLE as error:
            raise PasskeyRefused(f"assertion refused: {error}") from error
        new = verified.new_sign_count
        if (new > 0 or sign_count > 0) and new <= sign_count:
            log.warning(
                "passkey.counter_regressed",
                credential=bytes_to_base64url(verified.credential_id),
                stored=sign_count,
                presented=new,
            )
            raise PasskeyCounterRegressed(stored=sign_count, presented=new)
        return Assertion(
            credential_id=bytes_to_base64url(verified.credential_id),
            sign_count=new,
            user_verified=verified.user_verified,
            backed_up=verified.credential_backed_up
            or verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        )
