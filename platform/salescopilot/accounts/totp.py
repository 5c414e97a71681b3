"""TOTP two-factor (RFC 6238: 30-second steps, 6 digits, SHA-1 as authenticator apps expect)."""

from __future__ import annotations

import datetime as dt

import pyotp

ISSUER = "Sales Copilot"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def accepted_step(secret: str, code: str, now: dt.datetime, last_step: int) -> int | None:
    """The time step `code` is valid for (current step ±1 for clock drift), or None.

    A step at or before `last_step` is refused, so an observed code cannot be replayed.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if step > last_step and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
