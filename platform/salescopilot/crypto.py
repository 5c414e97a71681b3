"""Encryption of tenant secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, with key rotation)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from salescopilot.errors import DomainError
from salescopilot.settings import Settings


class SecretDecryptionFailed(DomainError):
    code = "SECRET_DECRYPTION_FAILED"
    status_code = 500
    default_message = "A stored secret could not be decrypted with the configured keys."


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the app secret (HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"salescopilot", info=purpose.encode()
    ).derive(secret_key.encode())


_DECRYPTED_MAX = 1024


class SecretBox:
    """Encrypts and decrypts small secrets (API tokens, passwords, private keys)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        #: token -> plaintext of tokens decrypted before. Decryption (HMAC check + AES) is pure
        #: and a token never expires here, so a token read on every request (a tenant's AI
        #: provider key) is decrypted once. Bounded; emptied when full.
        self._decrypted: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        keys = [k.get_secret_value().encode() for k in settings.encryption_keys]
        if not keys:
            derived = derive_key(settings.secret_key.get_secret_value(), "secrets-at-rest")
            keys = [base64.urlsafe_b64encode(derived)]
        return cls(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        plaintext = self._decrypted.get(token)
        if plaintext is not None:
            return plaintext
        try:
            plaintext = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretDecryptionFailed() from exc
        if len(self._decrypted) >= _DECRYPTED_MAX:
            self._decrypted.clear()
        self._decrypted[token] = plaintext
        return plaintext


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class InvalidSignedToken(DomainError):
    code = "INVALID_TOKEN"
    status_code = 400
    default_message = "This link is invalid or has expired."


def sign_token(secret_key: str, purpose: str, payload: dict, expires_at: float) -> str:
    """A URL-safe token carrying `payload`, valid for `purpose` until `expires_at` (epoch s)."""
    import json

    body = base64.urlsafe_b64encode(
        json.dumps({"p": payload, "exp": int(expires_at)}, separators=(",", ":")).encode()
    ).rstrip(b"=")
    mac = hmac.new(derive_key(secret_key, "token:" + purpose), body, hashlib.sha256).digest()
    return body.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def unsign_token(secret_key: str, purpose: str, token: str, now: float) -> dict:
    """The payload of a token made by `sign_token` for `purpose`; raises InvalidSignedToken."""
    import json

    try:
        body, mac = token.encode("ascii").split(b".", 1)
        expected = hmac.new(
            derive_key(secret_key, "token:" + purpose), body, hashlib.sha256
        ).digest()
        given = base64.urlsafe_b64decode(mac + b"=" * (-len(mac) % 4))
        if not hmac.compare_digest(expected, given):
            raise InvalidSignedToken()
        data = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    except InvalidSignedToken:
        raise
    except (ValueError, UnicodeError, TypeError) as exc:
        raise InvalidSignedToken() from exc
    if not isinstance(data, dict) or data.get("exp", 0) < now or not isinstance(data.get("p"), dict):
        raise InvalidSignedToken()
    return data["p"]
