"""Identifiers drawn in batches are what one-at-a-time ones would be: version-4 UUIDs and
random tokens of the asked size, all different."""

from __future__ import annotations

import re
import uuid

import pytest

from salescopilot.ids import new_uuids, random_tokens
from salescopilot.mail.message import new_message_id


def test_batch_uuids_are_distinct_version_4_uuids():
    ids = new_uuids(2000)
    assert len(ids) == len(set(ids)) == 2000
    assert all(isinstance(i, uuid.UUID) and i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert new_uuids(0) == []


def test_batch_tokens_make_distinct_message_ids():
    tokens = random_tokens(500)
    assert {len(t) for t in tokens} == {16} and len(set(tokens)) == 500
    ids = [new_message_id("sender.example.com", token) for token in tokens]
    assert all(re.fullmatch(r"<[0-9a-f]{32}@sender\.example\.com>", i) for i in ids)
    assert ids[0] == f"<{tokens[0].hex()}@sender.example.com>"
    assert re.fullmatch(r"<[0-9a-f]{32}@sender\.example\.com>", new_message_id("sender.example.com"))
    with pytest.raises(ValueError):
        new_message_id("sender.example.com", b"short")
