"""The hash chain: how an entry's hash is computed and how a run of entries is checked.

Each tenant's entries form a chain: entry n stores the hash of entry n-1 (`prev_hash`; 64 zeros
for entry 1) and its own `hash` = HMAC-SHA256(key, canonical JSON of every other field, tenant,
seq and prev_hash included). The key is derived from the app secret (`derive_key(secret_key,
"audit-chain")`), so someone with only database access can edit rows but cannot compute hashes
that verify. Changing `SALESCOPILOT_SECRET_KEY` therefore makes every existing chain fail to
verify: keep the key for as long as the log must be provable.

No database here: the service feeds `ChainVerifier` rows read in seq order, `export.verify_jsonl`
feeds it the lines of an export file.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from salescopilot.crypto import derive_key
from salescopilot.settings import Settings, get_settings

GENESIS_HASH = "0" * 64

#: Every stored field the hash covers, in the order exports list them; `hash` itself is last.
HASHED_FIELDS: tuple[str, ...] = (
    "id",
    "tenant",
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
)

#: Bumped if the canonical form ever changes; part of every hashed payload.
CHAIN_VERSION = 1

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def chain_key(settings: Settings | None = None) -> bytes:
    """The HMAC key of the audit chain, derived from the app secret."""
    settings = settings or get_settings()
    return _derive(settings.secret_key.get_secret_value())


@functools.lru_cache(maxsize=8)
def _derive(secret: str) -> bytes:
    return derive_key(secret, "audit-chain")


def canonical_time(value: dt.datetime | str) -> str:
    """UTC, microsecond precision, ISO 8601: the same text whichever database stored it."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def chain_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of an entry in canonical form, from a database row (JSON columns
    already parsed) or an export line."""
    return {
        "id": str(uuid.UUID(str(row["id"]))),
        "tenant": str(uuid.UUID(str(row["tenant"]))),
        "seq": _int(row["seq"]),
        "occurred_at": canonical_time(row["occurred_at"]),
        "actor_kind": str(row["actor_kind"]),
        "actor_id": _optional_str(row["actor_id"]),
        "actor_label": str(row["actor_label"] or ""),
        "action": str(row["action"]),
        "target_type": str(row["target_type"] or ""),
        "target_id": str(row["target_id"] or ""),
        "before": row["before"],
        "after": row["after"],
        "ip": _optional_str(row["ip"]),
        "user_agent": _optional_str(row["user_agent"]),
        "request_id": str(row["request_id"] or ""),
        "prev_hash": str(row["prev_hash"]),
    }


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, ASCII only: one byte string per set of field values."""
    payload = {"v": CHAIN_VERSION, **{name: fields[name] for name in HASHED_FIELDS}}
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def entry_hash(key: bytes, fields: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical_json(fields), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last entry of a chain. Record it outside the database (a ticket, a log shipper, a
    notary) to detect later removal of the newest entries, which no chain can show by itself."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read `SEQ:HASH` (as printed by `salescopilot audit head`); raises ValueError."""
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or int(seq) < 1 or not _HEX64.match(digest.lower()):
            raise ValueError("expected SEQ:HASH, e.g. 42:<64 hex digits>")
        return cls(int(seq), digest.lower())


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    #: Entries found intact before the first break (all of them when ok).
    checked: int
    #: The first entry that is altered, missing, out of place or forged; None when ok.
    first_broken_seq: int | None = None
    #: A sentence for people: what is wrong with that entry.
    problem: str | None = None
    #: A stable word for code: altered, missing, duplicate, misplaced, unlinked, foreign,
    #: truncated, anchor_mismatch, malformed.
    code: str | None = None
    #: The last intact entry; record it to detect truncation later.
    head: ChainHead | None = None


class ChainVerifier:
    """Checks entries fed in seq order and remembers the first break.

    A break is named by the first entry that is not what the chain promises: an entry whose hash
    does not match its fields (edited, renumbered or forged without the key), a seq that skips
    (entries deleted), repeats (a row inserted at a taken position) or a `prev_hash` that does not
    link to the entry before (reordered or spliced).
    """

    def __init__(
        self,
        key: bytes,
        *,
        expected_head: ChainHead | None = None,
        tenant: uuid.UUID | None = None,
    ) -> None:
        self._key = key
        self._expected_head = expected_head
        self._tenant = None if tenant is None else str(tenant)
        self.checked = 0
        self.last: ChainHead | None = None
        self.broken: VerifyResult | None = None

    @property
    def expected_seq(self) -> int:
        return self.last.seq + 1 if self.last else 1

    def check(self, row: Mapping[str, Any]) -> bool:
        """Check the next entry; False once the chain is broken (stop feeding then)."""
        if self.broken is not None:
            return False
        expected_seq = self.expected_seq
        try:
            fields = chain_fields(row)
            stored_hash = str(row["hash"])
            computed_hash = entry_hash(self._key, fields)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return self._break(
                expected_seq, "malformed", f"entry {expected_seq} cannot be read: {error}"
            )
        seq = fields["seq"]
        if self._tenant is None:
            self._tenant = fields["tenant"]
        elif fields["tenant"] != self._tenant:
            return self._break(seq, "foreign", f"entry {seq} belongs to another tenant's log")
        if seq < 1:
            return self._break(seq, "misplaced", f"entry {seq} has an impossible position")
        if seq > expected_seq:
            # Whatever this row holds, the earliest break is the first missing position.
            missing = f"entry {expected_seq}" if seq == expected_seq + 1 else (
                f"entries {expected_seq} to {seq - 1}"
            )
            return self._break(
                expected_seq, "missing", f"{missing} missing: the log jumps to {seq}"
            )
        if not hmac.compare_digest(computed_hash.encode(), stored_hash.encode()):
            return self._break(
                seq,
                "altered",
                f"entry {seq} does not match its hash: it was edited, moved or forged",
            )
        if seq < expected_seq:
            return self._break(
                seq, "duplicate", f"entry {seq} appears again after entry {expected_seq - 1}"
            )
        expected_prev = self.last.hash if self.last else GENESIS_HASH
        if fields["prev_hash"] != expected_prev:
            return self._break(
                seq,
                "unlinked",
                f"entry {seq} does not link to entry {seq - 1}: reordered or spliced",
            )
        anchor = self._expected_head
        if anchor is not None and seq == anchor.seq and stored_hash != anchor.hash:
            return self._break(
                seq, "anchor_mismatch", f"entry {seq} differs from the recorded head {anchor}"
            )
        self.checked += 1
        self.last = ChainHead(seq, stored_hash)
        return True

    def result(self) -> VerifyResult:
        """The verdict once every entry has been fed."""
        if self.broken is not None:
            return self.broken
        anchor = self._expected_head
        if anchor is not None and (self.last is None or self.last.seq < anchor.seq):
            end = self.last.seq if self.last else 0
            self._break(
                end + 1,
                "truncated",
                f"the log ends at entry {end} but the recorded head is entry {anchor.seq}: "
                f"the newest entries were removed",
            )
            return self.broken  # type: ignore[return-value]
        return VerifyResult(ok=True, checked=self.checked, head=self.last)

    def _break(self, seq: int, code: str, problem: str) -> bool:
        self.broken = VerifyResult(
            ok=False, checked=self.checked, first_broken_seq=seq, problem=problem, code=code,
            head=self.last,
        )
        return False
