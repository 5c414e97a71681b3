"""Inbound sync of the `smtp` provider against a real Dovecot: INBOX and spam folder by
UIDVALIDITY/UID, IDLE, a UIDVALIDITY change, a connection lost mid-fetch, a 20,000-message
mailbox, non-ASCII folder names, the connection limit, and the optional flag."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest

from plugins.providers.mail_smtp import imap
from plugins.providers.mail_smtp.imap import ImapProblem, decode_folder_name, encode_folder_name
from plugins.providers.mail_smtp.inbound import parse_cursor
from tests.integration.mail.conftest import PASSWORD, account_for, provider_for
from tests.mailservers.proxy import CuttingProxy


def inbound(number: int, *, padding: int = 0) -> bytes:
    return (
        f"From: Lead {number} <lead{number}@example.org>\r\nTo: anna@example.com\r\n"
        f"Subject: Re: Step 1 #{number}\r\nMessage-ID: <in{number}.x@example.org>\r\n"
        f"Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\nThanks, number {number}.\r\n"
        + "x" * padding + "\r\n"
    ).encode()


def imap_provider(sink, host, port, user, **changes):  # noqa: ANN001, ANN201
    values = dict(imap_host=host, imap_port=port, imap_security="none",
                  imap_username=user, imap_password=PASSWORD)
    values.update(changes)
    return provider_for(account_for(sink, **values))


def numbers(fetched) -> list[int]:  # noqa: ANN001
    return [int(m.raw.split(b"Message-ID: <in")[1].split(b".")[0]) for m in fetched.messages]


async def read_all(provider, cursor=None, limit=100):  # noqa: ANN001, ANN201
    messages = []
    while True:
        page = await provider.fetch_new_messages(cursor, limit=limit)
        messages += page.messages
        cursor = page.cursor
        if not page.has_more:
            return messages, cursor


async def test_inbox_then_spam_folder_in_pages_and_an_idle_cursor(sink, dovecot, imap_user):
    for number in (1, 2, 3):
        dovecot.append(imap_user, "INBOX", inbound(number))
    dovecot.create_folder(imap_user, "Junk")
    dovecot.append(imap_user, "Junk", inbound(4))
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user)
    first = await provider.fetch_new_messages(None, limit=2)
    assert numbers(first) == [1, 2] and first.has_more
    validity = dovecot.uidvalidity(imap_user)
    assert [m.provider_message_id for m in first.messages] == [f"INBOX:{validity}:1", f"INBOX:{validity}:2"]
    second = await provider.fetch_new_messages(first.cursor, limit=2)
    assert numbers(second) == [3, 4] and not second.has_more
    assert [m.folder for m in second.messages] == ["INBOX", "Junk"]
    assert second.messages[0].size == len(inbound(3))
    assert set(parse_cursor(second.cursor)) == {"INBOX", "Junk"}
    idle = await provider.fetch_new_messages(second.cursor)
    assert idle.messages == [] and idle.cursor == second.cursor
    dovecot.append(imap_user, "INBOX", inbound(5))
    later = await provider.fetch_new_messages(idle.cursor)
    assert numbers(later) == [5]
    # The sync never changes a message: no \Seen, nothing deleted.
    assert dovecot.flags(imap_user) == ["", "", "", ""]
    assert len(dovecot.messages(imap_user)) == 4


async def test_the_older_cursor_form_is_the_inbox_position(sink, dovecot, imap_user):
    for number in (1, 2):
        dovecot.append(imap_user, "INBOX", inbound(number))
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user)
    validity = dovecot.uidvalidity(imap_user)
    assert numbers(await provider.fetch_new_messages(f"{validity}:1")) == [2]
    assert numbers(await provider.fetch_new_messages("garbage{")) == [1, 2]


async def test_a_uidvalidity_change_reads_the_folder_again(sink, dovecot, imap_user):
    for number in (1, 2):
        dovecot.append(imap_user, "INBOX", inbound(number))
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user)
    before, cursor = await read_all(provider)
    old = dovecot.uidvalidity(imap_user)
    dovecot.set_uidvalidity(imap_user, "INBOX", old + 1000)
    after, cursor = await read_all(provider, cursor)
    assert [m.raw for m in after] == [m.raw for m in before]
    assert all(m.provider_message_id.startswith(f"INBOX:{old + 1000}:") for m in after)
    assert parse_cursor(cursor)["INBOX"][0] == old + 1000
    assert (await provider.fetch_new_messages(cursor)).messages == []


async def test_idle_wakes_on_new_mail_and_times_out_without(sink, dovecot, imap_user):
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user)
    assert await provider.wait_for_new_messages(0.5) is False
    waiting = asyncio.create_task(provider.wait_for_new_messages(20))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await asyncio.to_thread(dovecot.append, imap_user, "INBOX", inbound(1))
    assert await asyncio.wait_for(waiting, 10) is True
    assert numbers(await provider.fetch_new_messages(None)) == [1]


async def test_a_connection_lost_mid_fetch_keeps_what_was_read(sink, dovecot, imap_user):
    dovecot.write_maildir(imap_user, [inbound(n, padding=2000) for n in range(1, 121)])
    async with CuttingProxy(dovecot.host, dovecot.port) as proxy:
        provider = imap_provider(sink, proxy.host, proxy.port, imap_user)
        proxy.cut_after = 2_000  # within the login/first batch: nothing read, an error
        with pytest.raises(ImapProblem):
            await provider.fetch_new_messages(None, limit=500)
        proxy.cut_after = 160_000  # after the first batch of 50 (about 2 KB each)
        partial = await provider.fetch_new_messages(None, limit=500)
        assert partial.has_more and 0 < len(partial.messages) < 120
        assert proxy.cuts == 2
        proxy.cut_after = None
        rest, _ = await read_all(provider, partial.cursor, limit=500)
    ids = [m.provider_message_id for m in partial.messages + rest]
    assert len(ids) == len(set(ids)) == 120


async def test_a_mailbox_of_twenty_thousand_messages(sink, dovecot, imap_user):
    dovecot.write_maildir(imap_user, [inbound(n) for n in range(1, 20_001)])
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user)
    cursor, seen, pages = None, set(), 0
    while True:
        page = await provider.fetch_new_messages(cursor, limit=2_000)
        seen.update(m.provider_message_id for m in page.messages)
        cursor, pages = page.cursor, pages + 1
        if not page.has_more:
            break
    assert len(seen) == 20_000 and pages == 10
    assert (await provider.fetch_new_messages(cursor)).messages == []


async def test_non_ascii_folder_names(sink, dovecot, imap_user):
    dovecot.create_folder(imap_user, "Courrier indésirable")
    dovecot.append(imap_user, "Courrier indésirable", inbound(7))
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user)
    fetched = await provider.fetch_new_messages(None)
    assert [m.folder for m in fetched.messages] == ["Courrier indésirable"]
    assert json.loads(fetched.cursor)["Courrier indésirable"][1] == 1


@pytest.mark.parametrize(("name", "encoded"), [
    ("INBOX", "INBOX"), ("Entwürfe", "Entw&APw-rfe"), ("台北", "&U,BTFw-"), ("A & B", "A &- B"),
    ("Courrier indésirable", "Courrier ind&AOk-sirable"), ("~peter/mail/日本語", "~peter/mail/&ZeVnLIqe-"),
])
def test_modified_utf7_folder_names(name, encoded):
    assert encode_folder_name(name) == encoded
    assert decode_folder_name(encoded) == name


def test_a_malformed_modified_utf7_name_is_kept_as_is():
    assert decode_folder_name("Bad &&&- name") == "Bad &&&- name"
    assert decode_folder_name("Open &AOk") == "Open &AOk"


async def test_connections_per_account_are_limited(sink, dovecot, imap_user, monkeypatch):
    dovecot.append(imap_user, "INBOX", inbound(1))
    real, open_now, most = imap._open_session, 0, 0

    @asynccontextmanager
    async def counted(account, transport):  # noqa: ANN001, ANN202
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            async with real(account, transport) as session:
                yield session
        finally:
            open_now -= 1

    monkeypatch.setattr(imap, "_open_session", counted)
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user, imap_max_connections=2)
    results = await asyncio.gather(*(provider.fetch_new_messages(None) for _ in range(6)))
    assert all(numbers(r) == [1] for r in results)
    assert most == 2


async def test_the_optional_flag_is_the_only_change(sink, dovecot, imap_user):
    for number in (1, 2):
        dovecot.append(imap_user, "INBOX", inbound(number))
    provider = imap_provider(sink, dovecot.host, dovecot.port, imap_user, mark_fetched="SalesCopilot")
    assert numbers(await provider.fetch_new_messages(None)) == [1, 2]
    assert dovecot.flags(imap_user) == ["SalesCopilot", "SalesCopilot"]
    with pytest.raises(ValueError, match="keyword"):
        account_for(sink, imap_host="x.example", mark_fetched="\\Deleted")
