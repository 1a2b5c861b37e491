"""Rate limits of signing in and refreshing (see `waymark.kernel.throttle`).

Sign-ins are limited per account *and* IP, so an attacker elsewhere cannot lock a real user
out (a correct password clears the count); a looser limit per IP caps spraying across
accounts."""

from __future__ import annotations

from waymark.kernel.throttle import Rule

LOGIN_ACCOUNT_IP = Rule("login-account-ip", 5, 300)
LOGIN_IP = Rule("login-ip", 30, 300)
REFRESH_IP = Rule("refresh-ip", 120, 60)
EXTERNAL_START_IP = Rule("external-sign-in-ip", 30, 300)
"""Sign-in attempts through other sites begun per IP: each stores an attempt."""
MFA_ACCOUNT = Rule("mfa-account", 10, 300)
"""Second-factor answers per account (challenge, step-up, enrolment): 6-digit codes are
guessable only at a rate; a challenge also ends after 5 wrong answers."""
MFA_IP = Rule("mfa-ip", 30, 300)
MFA_EMAIL_ACCOUNT = Rule("mfa-email-account", 5, 900)
"""Sign-in codes mailed per account: each is a mail to its owner."""
PASSKEY_IP = Rule("passkey-ip", 30, 300)
"""Passkey ceremonies begun per IP (sign-ins and registrations): each stores a challenge."""
LINK_MAIL_ACCOUNT = Rule("link-mail-account", 3, 3600)
"""Link confirmations mailed per account: each is a mail to its owner."""
