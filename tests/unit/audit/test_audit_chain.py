"""The chain's pure parts: canonical hashing, the verifier's verdicts, redaction, CSV cells."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from salescopilot.audit.chain import (
    GENESIS_HASH,
    ChainHead,
    ChainVerifier,
    canonical_json,
    canonical_time,
    chain_fields,
    entry_hash,
)
from salescopilot.audit.export import defuse_formula
from salescopilot.audit.service import MAX_SNAPSHOT_CHARS, REDACTED, parse_filters, snapshot
from salescopilot.errors import ValidationFailed

KEY = b"k" * 32
TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def make_chain(count: int, key: bytes = KEY, tenant: uuid.UUID = TENANT) -> list[dict]:
    rows, previous = [], GENESIS_HASH
    for seq in range(1, count + 1):
        row = {
            "id": uuid.uuid4(), "tenant": tenant, "seq": seq,
            "occurred_at": dt.datetime(2026, 1, 5, 9, 0, seq, tzinfo=dt.UTC),
            "actor_kind": "user", "actor_id": "u1", "actor_label": "a@b.test",
            "action": "lead.updated", "target_type": "lead", "target_id": str(seq),
            "before": None, "after": {"n": seq}, "ip": None, "user_agent": None,
            "request_id": "r", "prev_hash": previous,
        }
        row["hash"] = previous = entry_hash(key, chain_fields(row))
        rows.append(row)
    return rows


def verdict(rows, **kwargs):
    verifier = ChainVerifier(KEY, **kwargs)
    for row in rows:
        if not verifier.check(row):
            break
    return verifier.result()


def test_canonical_form_is_stable_across_representations():
    row = make_chain(1)[0]
    as_text = {**row, "id": str(row["id"]), "tenant": str(row["tenant"]),
               "occurred_at": "2026-01-05 10:00:01+01:00", "seq": "1"}
    assert canonical_json(chain_fields(row)) == canonical_json(chain_fields(as_text))
    assert canonical_time(dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)) == (
        "2026-01-05T09:00:00.000000+00:00"
    )
    with pytest.raises(ValueError):
        canonical_time(dt.datetime(2026, 1, 5, 9))


def test_every_field_is_covered_by_the_hash():
    row = make_chain(1)[0]
    for name, value in [("tenant", uuid.uuid4()), ("seq", 2), ("actor_label", "x"),
                        ("before", {}), ("prev_hash", "1" * 64), ("ip", "::1"),
                        ("occurred_at", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))]:
        assert entry_hash(KEY, chain_fields({**row, name: value})) != row["hash"], name


def test_an_intact_chain_verifies():
    rows = make_chain(5)
    result = verdict(rows)
    assert result.ok and result.checked == 5 and result.head == ChainHead(5, rows[-1]["hash"])
    assert verdict([]).ok


@pytest.mark.parametrize(
    ("change", "seq", "code"),
    [
        (lambda rows: rows[2].update(after={"n": 99}), 3, "altered"),
        (lambda rows: rows.pop(2), 3, "missing"),
        (lambda rows: rows.__setitem__(slice(1, 3), [rows[2], rows[1]]), 2, "missing"),
        (lambda rows: rows.__setitem__(1, make_chain(2)[1]), 2, "unlinked"),  # spliced
        (lambda rows: rows.insert(3, dict(rows[2])), 3, "duplicate"),
        (lambda rows: rows.insert(0, {**rows[0], "seq": 0}), 0, "misplaced"),
        (lambda rows: rows.__setitem__(4, make_chain(5, tenant=uuid.uuid4())[4]), 5, "foreign"),
        (lambda rows: rows[1].update(seq="two"), 2, "malformed"),
        (lambda rows: rows[1].pop("hash"), 2, "malformed"),
        (lambda rows: rows[1].update(occurred_at=5), 2, "malformed"),
        (lambda rows: rows[1].update(after=float("nan")), 2, "malformed"),
        (lambda rows: rows[1].update(id="not-a-uuid"), 2, "malformed"),
    ],
)
def test_each_kind_of_break_is_named(change, seq, code):
    rows = make_chain(5)
    change(rows)
    result = verdict(rows)
    assert (result.ok, result.first_broken_seq, result.code) == (False, seq, code)
    assert result.problem


def test_a_relinked_forgery_without_the_key_is_caught():
    rows = make_chain(4)
    forged = {**rows[1], "after": {"n": 1000}}
    forged["hash"] = entry_hash(b"guess" * 8, chain_fields(forged))
    rows[1] = forged
    assert verdict(rows).first_broken_seq == 2


def test_anchors_catch_truncation_and_rewrites():
    rows = make_chain(6)
    anchor = ChainHead(6, rows[-1]["hash"])
    assert verdict(rows, expected_head=anchor).ok
    cut = verdict(rows[:4], expected_head=anchor)
    assert (cut.first_broken_seq, cut.code) == (5, "truncated")
    emptied = verdict([], expected_head=anchor)
    assert (emptied.first_broken_seq, emptied.code) == (1, "truncated")
    rewritten = verdict(make_chain(6), expected_head=anchor)  # a whole new chain, same key
    assert (rewritten.first_broken_seq, rewritten.code) == (6, "anchor_mismatch")


@pytest.mark.parametrize("text", ["", "5", "5:", "0:" + "a" * 64, "x:" + "a" * 64, "5:abc",
                                  "-1:" + "a" * 64])
def test_bad_heads_are_refused(text):
    with pytest.raises(ValueError):
        ChainHead.parse(text)


def test_heads_print_and_parse():
    head = ChainHead(42, "ab" * 32)
    assert ChainHead.parse(str(head).upper().replace("AB", "ab")) == head
    assert ChainHead.parse(f" 42:{'AB' * 32}\n") == head


def test_snapshots_redact_secrets_but_keep_flags():
    data = {"password": "p", "new_password": "q", "totp_enabled": False, "totp_secret": "s",
            "nested": [{"api_token": "t", "token_count": 3}], "refresh_token": None,
            "name": "ok", "PASSPHRASE": "pp", "private_key": "-----BEGIN"}
    assert snapshot(data) == {
        "password": REDACTED, "new_password": REDACTED, "totp_enabled": False,
        "totp_secret": REDACTED, "nested": [{"api_token": REDACTED, "token_count": REDACTED}],
        "refresh_token": None, "name": "ok", "PASSPHRASE": REDACTED, "private_key": REDACTED,
    }
    assert snapshot(None) is None


def test_oversized_and_deep_snapshots_are_bounded():
    big = snapshot({"blob": "x" * (MAX_SNAPSHOT_CHARS + 1)})
    assert big["omitted"] == "too large" and big["chars"] > MAX_SNAPSHOT_CHARS
    deep: dict = {}
    cursor = deep
    for _ in range(100):
        cursor["d"] = {}
        cursor = cursor["d"]
    assert "[too deep]" in str(snapshot(deep))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
     ("\rx", "'\rx"), ("a=1", "a=1"), ("", ""), ("'=x", "'=x"), (" =x", " =x")],
)
def test_formula_cells_are_defused(cell, expected):
    assert defuse_formula(cell) == expected


def test_filters_parse_prefixes_and_times():
    parsed = parse_filters({"action": "auth.*", "from": "2026-01-05T10:00:00+01:00",
                            "to": "2026-01-06"})
    assert parsed.action_prefix == "auth." and parsed.action is None
    assert parsed.occurred_from == dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    assert parsed.occurred_to == dt.datetime(2026, 1, 6, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed):
        parse_filters({"to": "2026-01-06T00:00:00\x00"})
