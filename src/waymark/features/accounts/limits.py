"""Rate limits of the account flows (see `waymark.kernel.throttle`).

Limits on an address are keyed per address *and* IP, so nobody elsewhere can spend the
owner's allowance; a looser limit per IP caps spraying across addresses. Addresses are
hashed before they become keys.
"""

from __future__ import annotations

import hashlib

from waymark.kernel.throttle import Rule

REGISTER_IP = Rule("register-ip", 10, 3600)
VERIFY_IP = Rule("verify-ip", 30, 3600)
# Reset and confirmation mails: 3 an hour per address from one IP, 10 an hour per IP. There
# is deliberately no cap per address alone, however loose: anyone can spend such a cap from
# IPs of their own, and the owner then gets no reset or confirmation mail for the period
# from anywhere, their own IP included. The price: an attacker with many IPs can send one
# address 3 mails an hour per IP (each new link kills the previous one, the last one works).
RESEND_ACCOUNT_IP = Rule("resend-account-ip", 3, 3600)
RESEND_IP = Rule("resend-ip", 10, 3600)
FORGOT_ACCOUNT_IP = Rule("forgot-account-ip", 3, 3600)
FORGOT_IP = Rule("forgot-ip", 10, 3600)
RESET_IP = Rule("reset-ip", 10, 3600)
# Re-authentication (current password) before changing the password or email or deleting:
# guesses count, a correct password clears the count.
REAUTH_ACCOUNT = Rule("reauth-account", 5, 300)


def account_key(email: str, ip: str = "") -> str:
    """The limiter key of an account (and IP): `email` is canonical, as request bodies hold
    it (`normalize_email`), so every spelling of one address counts as one."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:24]
    return f"{digest}:{ip}" if ip else digest
