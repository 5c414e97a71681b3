"""SecretBox: a token decrypted once is answered from memory (the AI provider key is read on every
AI call), with exactly the answers decryption gives: a wrong or tampered token still fails, a box
with other keys never sees another box's plaintexts, and the memory is bounded."""

from __future__ import annotations

import base64
import os

import pytest

from salescopilot import crypto
from salescopilot.crypto import SecretBox, SecretDecryptionFailed


def _box() -> SecretBox:
    return SecretBox([base64.urlsafe_b64encode(os.urandom(32))])


def test_a_remembered_token_decrypts_as_before_and_bad_tokens_still_fail(monkeypatch):
    box = _box()
    token = box.encrypt("sk-tenant-key")
    assert box.decrypt(token) == "sk-tenant-key"
    calls = []
    real = box._fernet.decrypt
    monkeypatch.setattr(box._fernet, "decrypt", lambda data: calls.append(data) or real(data))
    assert box.decrypt(token) == "sk-tenant-key" and calls == []  # answered from memory
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SecretDecryptionFailed):
        box.decrypt(tampered)
    with pytest.raises(SecretDecryptionFailed):
        box.decrypt("not a token")
    with pytest.raises(SecretDecryptionFailed):
        _box().decrypt(token)  # another key never reads it, remembered elsewhere or not


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(crypto, "_DECRYPTED_MAX", 3)
    box = _box()
    tokens = [box.encrypt(f"secret-{n}") for n in range(7)]
    assert [box.decrypt(t) for t in tokens] == [f"secret-{n}" for n in range(7)]
    assert len(box._decrypted) <= 3
    assert box.decrypt(tokens[0]) == "secret-0"
