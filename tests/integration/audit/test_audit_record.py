"""Recording: the chain grows 1..n with linked hashes, inside the domain write's transaction."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from salescopilot.actor import Actor, acting_as
from salescopilot.audit.chain import GENESIS_HASH, ChainHead
from salescopilot.audit.service import REDACTED, AuditOutsideTransaction, AuditService
from salescopilot.clock import FakeClock
from salescopilot.errors import TenantNotResolved
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tenancy.tables import TenantDomain

from tests.integration.audit.audit_support import ALICE, fill


async def test_entries_chain_and_verify(audit, tenant_a):
    await fill(audit, tenant_a, 5)
    result = await audit.verify(tenant_a)
    assert result.ok and result.checked == 5 and result.first_broken_seq is None
    async with tenant_scope(tenant_a, write=False):
        page = await audit.list_entries(ListQuery(limit=10, sort="seq"))
    entries = page.items
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for previous, entry in zip(entries, entries[1:]):
        assert entry["prev_hash"] == previous["hash"]
    assert result.head == ChainHead(5, entries[-1]["hash"])
    assert await audit.head(tenant_a) == result.head


async def test_an_entry_records_who_what_where_and_when(audit, tenant_a, clock):
    with acting_as(ALICE):
        async with tenant_scope(tenant_a):
            entry = await audit.record(
                "team.role_changed", target_type="membership", target_id="m-1",
                before={"role": "member"}, after={"role": "admin"},
            )
    assert entry.seq == 1
    async with tenant_scope(tenant_a, write=False):
        stored = await audit.get_entry(entry.id)
    assert stored == {
        "id": str(entry.id),
        "tenant": str(tenant_a.id),
        "seq": 1,
        "occurred_at": clock.now().isoformat(timespec="microseconds"),
        "actor_kind": "user",
        "actor_id": "u-alice",
        "actor_label": "alice@acme.test",
        "action": "team.role_changed",
        "target_type": "membership",
        "target_id": "m-1",
        "before": {"role": "member"},
        "after": {"role": "admin"},
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (Test)",
        "request_id": "req-1",
        "prev_hash": GENESIS_HASH,
        "hash": entry.hash,
    }


async def test_the_entry_commits_or_rolls_back_with_the_domain_write(audit, tenant_a):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with tenant_scope(tenant_a):
            await TenantDomain(tenant=tenant_a.id, hostname="rolled-back.test").save()
            await audit.record("domain.added", target_type="domain", target_id="rolled-back.test")
            raise Boom
    assert await audit.head(tenant_a) is None
    assert not await TenantDomain.exists().where(TenantDomain.hostname == "rolled-back.test")

    async with tenant_scope(tenant_a):
        await TenantDomain(tenant=tenant_a.id, hostname="kept.test").save()
        await audit.record("domain.added", target_type="domain", target_id="kept.test")
    assert (await audit.head(tenant_a)).seq == 1


async def test_recording_needs_a_tenant_scope(audit, db):
    with pytest.raises(TenantNotResolved):
        await audit.record("lead.updated", target_type="lead", target_id="x")


async def test_recording_needs_an_open_transaction(audit, tenant_a, monkeypatch):
    from salescopilot.db.engine import get_engine

    async with tenant_scope(tenant_a):
        engine = get_engine()
        token = engine.current_transaction.set(None)
        try:
            with pytest.raises(AuditOutsideTransaction):
                await audit.record("lead.updated", target_type="lead", target_id="x")
        finally:
            engine.current_transaction.reset(token)


@pytest.mark.parametrize("action", ["", "signin", "Auth.Sign_in", "auth.", "auth..x", "a" * 101])
async def test_malformed_actions_are_refused(audit, tenant_a, action):
    async with tenant_scope(tenant_a):
        with pytest.raises(ValueError):
            await audit.record(action, target_type="x", target_id="y")


async def test_secrets_are_redacted_at_any_depth(audit, tenant_a):
    async with tenant_scope(tenant_a):
        entry = await audit.record(
            "user.updated", target_type="user", target_id="u1",
            before={"password": "old-pass", "totp_enabled": False, "name": "A"},
            after={
                "Password_Hash": "$argon2id$...",
                "totp_secret": "JBSWY3DPEHPK3PXP",
                "totp_enabled": True,
                "settings": {"api": {"client_secret": "s3cr3t", "url": "https://x"}},
                "keys": [{"key_hash": "abc", "name": "ci"}, {"access_token": "t0k"}],
                "reset_token": None,
            },
        )
        stored = await audit.get_entry(entry.id)
    assert stored["before"] == {"password": REDACTED, "totp_enabled": False, "name": "A"}
    assert stored["after"] == {
        "Password_Hash": REDACTED,
        "totp_secret": REDACTED,
        "totp_enabled": True,
        "settings": {"api": {"client_secret": REDACTED, "url": "https://x"}},
        "keys": [{"key_hash": REDACTED, "name": "ci"}, {"access_token": REDACTED}],
        "reset_token": None,
    }
    for secret in ("old-pass", "argon2", "JBSWY3DPEHPK3PXP", "s3cr3t", "t0k"):
        assert secret not in str(stored)
    assert (await audit.verify(tenant_a)).ok


async def test_hostile_values_are_stored_safely_and_still_verify(audit, tenant_a):
    hostile = Actor(
        kind="user", id="x" * 500, label="evil\x00@example.test\ud800", ip="::1",
        user_agent="UA" * 2000, request_id="r" * 300,
    )
    with acting_as(hostile):
        async with tenant_scope(tenant_a):
            entry = await audit.record(
                "lead.updated", target_type="lead'; drop table audit_entry; --",
                target_id="\x00" + "y" * 1000,
                before={"when": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "n": 2**70,
                        "f": float("nan"), 3: {"x", "y"}},
                after="just text",
            )
            stored = await audit.get_entry(entry.id)
    assert stored["actor_label"] == "evil@example.test?"
    assert len(stored["actor_id"]) == 100 and len(stored["user_agent"]) == 1000
    assert len(stored["target_id"]) == 320 and "\x00" not in stored["target_id"]
    assert stored["before"] == {
        "when": "2026-01-01T00:00:00+00:00", "n": str(2**70), "f": "nan", "3": ["x", "y"]
    }
    assert stored["after"] == "just text"
    assert (await audit.verify(tenant_a)).ok


async def test_the_chain_key_comes_from_the_secret(tenant_a, settings, monkeypatch):
    clock = FakeClock()
    await fill(AuditService(clock), tenant_a, 2)
    other = AuditService(clock, key=b"k" * 32)
    result = await other.verify(tenant_a)
    assert not result.ok and result.first_broken_seq == 1 and result.code == "altered"


async def test_concurrent_records_keep_one_valid_chain(audit, tenant_a):
    async def one(number: int) -> None:
        async with tenant_scope(tenant_a):
            await audit.record("lead.updated", target_type="lead", target_id=str(number))

    await asyncio.gather(*(one(n) for n in range(20)))
    result = await audit.verify(tenant_a)
    assert result.ok and result.checked == 20 and result.head.seq == 20
    async with tenant_scope(tenant_a, write=False):
        page = await audit.list_entries(ListQuery(limit=50))
    assert sorted(e["target_id"] for e in page.items) == sorted(str(n) for n in range(20))
