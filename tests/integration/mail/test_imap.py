"""The IMAP side of the `smtp` provider against a real Dovecot: the Sent copy, reconciliation by
Message-ID, and `check_connection` (reading new messages: test_imap_sync.py)."""

from __future__ import annotations

import asyncio

import pytest

from salescopilot.plugin_system.interfaces import DeliveryUncertain, OutgoingMessage, SentMessage
from tests.integration.mail.conftest import ADDRESS, PASSWORD, account_for, provider_for
from tests.mailservers import SmtpSink, free_port


def message(number: int) -> OutgoingMessage:
    message_id = f"<seq{number}.abc@example.com>"
    raw = (
        f"From: {ADDRESS}\r\nTo: lead@example.org\r\nSubject: Step {number}\r\n"
        f"Message-ID: {message_id}\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\nHello {number}\r\n"
    ).encode()
    return OutgoingMessage(message_id, ADDRESS, ("lead@example.org",), raw)


def with_imap(sink, dovecot, user, **changes):  # noqa: ANN001, ANN201
    values = dict(imap_host=dovecot.host, imap_port=dovecot.port, imap_security="none",
                  imap_username=user, imap_password=PASSWORD)
    values.update(changes)
    return account_for(sink, **values)


async def test_a_sent_message_is_appended_to_sent_and_found_by_message_id(sink, dovecot, imap_user):
    provider = provider_for(with_imap(sink, dovecot, imap_user, append_to_sent="auto"))
    sent = message(1)
    await provider.send(sent)
    await asyncio.wait(provider._appends)  # the copy is filed in the background
    [copy] = dovecot.messages(imap_user, "Sent")
    assert copy.replace(b"\r\n", b"\n").endswith(sent.raw.replace(b"\r\n", b"\n"))
    found = await provider.find_sent_by_message_id(sent.message_id)
    assert isinstance(found, SentMessage)
    assert found.provider_message_id.startswith("Sent:")
    assert found.sent_at is not None
    assert await provider.find_sent_by_message_id("<never-sent@example.com>") is None
    await provider.close()


async def test_a_server_that_keeps_its_own_copy_is_not_given_a_second(dovecot, imap_user):
    with SmtpSink(sent_copy=(dovecot, imap_user)) as sink:
        provider = provider_for(with_imap(sink, dovecot, imap_user, append_to_sent="never"))
        await provider.send(message(2))
        await provider.close()
    assert len(dovecot.messages(imap_user, "Sent")) == 1
    found = await provider.find_sent_by_message_id(message(2).message_id)
    assert found is not None


async def test_an_append_failure_never_fails_the_send(sink, dovecot, caplog, imap_user):
    provider = provider_for(with_imap(sink, dovecot, imap_user, sent_folder="No Such Folder"))
    result = await provider.send(message(3))
    await provider.close()  # waits for the background append
    assert result.provider_message_id is not None
    assert len(sink.transactions) == 1
    assert "sent copy not appended" in caplog.text


async def test_a_search_that_cannot_run_leaves_the_message_uncertain(sink, dovecot, imap_user):
    wrong_password = provider_for(with_imap(sink, dovecot, imap_user, imap_password="wrong"))
    with pytest.raises(DeliveryUncertain, match="the Sent folder could not be searched"):
        await wrong_password.find_sent_by_message_id("<x@example.com>")
    unreachable = provider_for(with_imap(sink, dovecot, imap_user, imap_port=free_port()))
    with pytest.raises(DeliveryUncertain, match="Connection refused"):
        await unreachable.find_sent_by_message_id("<x@example.com>")
    no_imap = provider_for(account_for(sink))
    with pytest.raises(DeliveryUncertain, match="no IMAP server"):
        await no_imap.find_sent_by_message_id("<x@example.com>")


async def test_check_connection_passes_for_a_working_mailbox(sink, dovecot, imap_user):
    check = await provider_for(with_imap(sink, dovecot, imap_user)).check_connection()
    assert check.ok, check.problems
    assert "relay accepted" in check.message and "Sent folder 'Sent'" in check.message
    assert sink.transactions == []  # nothing was sent


async def test_check_connection_names_each_problem(sink, dovecot, imap_user):
    sink.behaviour.refuse_recipients = {ADDRESS: "550 5.7.1 Relaying denied"}
    check = await provider_for(with_imap(sink, dovecot, imap_user, imap_password="wrong")).check_connection()
    assert not check.ok
    assert check.problems[0] == (
        f"Relay: 127.0.0.1 refused {ADDRESS} as a recipient: 550 5.7.1 Relaying denied"
    )
    assert check.problems[1].startswith(f"IMAP: IMAP login as {imap_user} refused")
    assert len(check.problems) == 2

    dns = account_for(sink, smtp_host="smtp.does-not-exist.invalid")
    check = await provider_for(dns).check_connection()
    assert check.problems[0].startswith("DNS: SMTP host smtp.does-not-exist.invalid does not resolve")

    closed_port = free_port()
    check = await provider_for(account_for(sink, smtp_port=closed_port)).check_connection()
    assert check.problems == (f"SMTP: Connection refused by 127.0.0.1:{closed_port} (SMTP)",)


async def test_check_connection_reports_a_refused_login(certificates):
    with SmtpSink(tls="starttls", certificates=certificates, credentials={ADDRESS: PASSWORD}) as sink:
        account = account_for(sink, smtp_security="starttls", auth_method="login", password="nope")
        check = await provider_for(account, ca_file=certificates.ca_file).check_connection()
        untrusted = await provider_for(account).check_connection()
    assert check.problems == (
        "SMTP: Authentication failed: 535 5.7.8 Authentication credentials invalid",
    )
    assert untrusted.problems[0].startswith("SMTP: TLS certificate of 127.0.0.1 not trusted")


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_imap_over_tls_with_the_extra_ca(sink, dovecot, imap_user, certificates, security):
    dovecot.append(imap_user, "Sent", message(5).raw)
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    account = account_for(sink, imap_host="localhost", imap_port=port, imap_security=security,
                          imap_username=imap_user, imap_password=PASSWORD, imap_auth="plain")
    found = await provider_for(account, ca_file=certificates.ca_file).find_sent_by_message_id(
        message(5).message_id
    )
    assert found is not None
    with pytest.raises(DeliveryUncertain, match="TLS certificate of localhost not trusted"):
        await provider_for(account).find_sent_by_message_id(message(5).message_id)


async def test_without_imap_there_is_nothing_to_fetch(sink):
    fetched = await provider_for(account_for(sink)).fetch_new_messages("5:10")
    assert (fetched.messages, fetched.cursor, fetched.has_more) == ([], "5:10", False)
