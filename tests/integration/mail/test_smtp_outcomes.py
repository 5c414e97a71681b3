"""The `smtp` provider against a real SMTP server (aiosmtpd): every outcome the outbox relies on,
with a readable reason, and the pooled connection."""

from __future__ import annotations

import asyncio

import pytest

from plugins.providers.mail_smtp.smtp import MAILBOX_CONFIGURATION
from salescopilot.plugin_system.interfaces import (
    DeliveryUncertain,
    OutgoingMessage,
    SendFailure,
    SendResult,
)
from tests.integration.mail.conftest import ADDRESS, PASSWORD, account_for, provider_for
from tests.mailservers import SmtpSink, free_port

LEAD = "lead@example.org"


def outgoing(raw: bytes = b"Subject: hi\r\nMessage-ID: <m1@example.com>\r\n\r\nHello\r\n", *,
             recipients: tuple[str, ...] = (LEAD,)) -> OutgoingMessage:
    return OutgoingMessage(message_id="<m1@example.com>", envelope_from=ADDRESS,
                           recipients=recipients, raw=raw)


async def test_accepted_message_reports_the_queue_id_and_arrives_byte_for_byte(sink):
    provider = provider_for(account_for(sink))
    raw = b"Subject: hi\r\n\r\n.leading dot\r\nline\r\n"
    result = await provider.send(outgoing(raw))
    await provider.close()
    assert isinstance(result, SendResult)
    assert result.provider_message_id == "SINK000001"
    assert result.response.startswith("250 2.0.0 Ok: queued as SINK000001")
    [transaction] = sink.transactions
    assert transaction.data == raw
    assert (transaction.mail_from, transaction.rcpt_tos) == (ADDRESS, (LEAD,))


async def test_one_pooled_connection_serves_many_sends(sink):
    provider = provider_for(account_for(sink))
    await asyncio.gather(*(provider.send(outgoing()) for _ in range(10)))
    await provider.close()
    assert len(sink.transactions) == 10
    assert sink.connections == 1
    assert provider.connection.connections_opened == 1


async def test_a_connection_closed_by_the_server_is_reopened(sink):
    provider = provider_for(account_for(sink))
    await provider.send(outgoing())
    provider.connection._client.transport.close()  # as a server's idle timeout would
    await asyncio.sleep(0.05)
    await provider.send(outgoing())
    await provider.close()
    assert len(sink.transactions) == 2
    assert provider.connection.connections_opened == 2


async def test_a_connection_the_server_hung_up_on_is_replaced_before_mail_from(sink):
    provider = provider_for(account_for(sink))
    await provider.send(outgoing())
    sink.close_connections()  # the client has not noticed yet when it sends MAIL FROM
    await provider.send(outgoing())
    await provider.close()
    assert len(sink.transactions) == 2
    assert provider.connection.connections_opened == 2


async def test_an_idle_pooled_connection_is_checked_with_noop(sink, monkeypatch):
    from plugins.providers.mail_smtp import smtp

    provider = provider_for(account_for(sink))
    await provider.send(outgoing())
    monkeypatch.setattr(smtp, "IDLE_CHECK_SECONDS", 0.0)
    await provider.send(outgoing())  # NOOP answered: the same connection
    assert provider.connection.connections_opened == 1
    sink.close_connections()
    await asyncio.sleep(0.1)
    await provider.send(outgoing())
    await provider.close()
    assert provider.connection.connections_opened == 2 and len(sink.transactions) == 3


async def test_unreachable_server_is_a_temporary_failure():
    port = free_port()
    account = account_for(SmtpSink(port=port))  # never started: nothing listens
    with pytest.raises(SendFailure) as failure:
        await provider_for(account).send(outgoing())
    assert failure.value.permanent is False
    assert failure.value.reason == f"Connection refused by 127.0.0.1:{port} (SMTP)"


async def test_untrusted_certificate_is_a_mailbox_configuration_failure(certificates):
    with SmtpSink(tls="ssl", certificates=certificates) as sink:
        account = account_for(sink, smtp_security="ssl")
        with pytest.raises(SendFailure) as failure:
            await provider_for(account).send(outgoing())  # the test CA is not trusted
    assert failure.value.permanent is False
    assert failure.value.reason.startswith(
        f"{MAILBOX_CONFIGURATION} TLS certificate of 127.0.0.1 not trusted:"
    )
    assert failure.value.mailbox_fault is True
    assert not sink.transactions


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_tls_with_the_extra_ca_and_login(certificates, security):
    credentials = {ADDRESS: PASSWORD}
    with SmtpSink(tls=security, certificates=certificates, credentials=credentials) as sink:
        for method in ("plain", "login"):
            account = account_for(sink, smtp_security=security, auth_method=method,
                                  password=PASSWORD)
            provider = provider_for(account, ca_file=certificates.ca_file)
            await provider.send(outgoing())
            await provider.close()
    assert [t.login for t in sink.transactions] == [ADDRESS, ADDRESS]


async def test_wrong_password_is_an_authentication_failure(certificates):
    with SmtpSink(tls="starttls", certificates=certificates, credentials={ADDRESS: PASSWORD}) as sink:
        account = account_for(sink, smtp_security="starttls", auth_method="plain", password="wrong")
        with pytest.raises(SendFailure) as failure:
            await provider_for(account, ca_file=certificates.ca_file).send(outgoing())
    assert failure.value.permanent is False
    assert failure.value.reason == (
        f"{MAILBOX_CONFIGURATION} Authentication failed: 535 5.7.8 Authentication credentials invalid"
    )
    assert failure.value.smtp_code == 535 and failure.value.enhanced_status == "5.7.8"
    assert failure.value.mailbox_fault is True


async def test_xoauth2(certificates):
    tokens = {ADDRESS: "ya29.token"}
    with SmtpSink(tls="ssl", certificates=certificates, oauth_tokens=tokens) as sink:
        good = account_for(sink, smtp_security="ssl", auth_method="xoauth2",
                           oauth_access_token="ya29.token")
        await provider_for(good, ca_file=certificates.ca_file).send(outgoing())
        bad = account_for(sink, smtp_security="ssl", auth_method="xoauth2",
                          oauth_access_token="expired")
        with pytest.raises(SendFailure) as failure:
            await provider_for(bad, ca_file=certificates.ca_file).send(outgoing())
    assert [t.login for t in sink.transactions] == [ADDRESS]
    assert "Authentication failed: 535 5.7.8" in failure.value.reason


async def test_greylisting_is_temporary_and_the_retry_goes_through(sink):
    sink.behaviour.greylist_first = 1
    provider = provider_for(account_for(sink))
    with pytest.raises(SendFailure) as failure:
        await provider.send(outgoing())
    assert failure.value.permanent is False
    assert (failure.value.smtp_code, failure.value.enhanced_status) == (451, "4.7.1")
    assert failure.value.reason == f"Recipient {LEAD} refused: 451 4.7.1 Greylisted, please try again later"
    assert failure.value.mailbox_fault is False
    await provider.send(outgoing())  # same connection, after RSET
    await provider.close()
    assert len(sink.transactions) == 1 and sink.connections == 1


async def test_recipient_refused_for_good_is_a_hard_bounce(sink):
    sink.behaviour.refuse_recipients = {LEAD: "550 5.1.1 <lead@example.org>: user unknown"}
    with pytest.raises(SendFailure) as failure:
        await provider_for(account_for(sink)).send(outgoing())
    assert failure.value.permanent is True
    assert (failure.value.smtp_code, failure.value.enhanced_status) == (550, "5.1.1")
    assert "user unknown" in failure.value.reason


async def test_some_recipients_refused_the_others_get_the_message(sink):
    sink.behaviour.refuse_recipients = {"gone@example.org": "550 5.1.1 no such user"}
    result = await provider_for(account_for(sink)).send(
        outgoing(recipients=(LEAD, "gone@example.org"))
    )
    assert result.rejected_recipients == ("gone@example.org",)
    assert sink.transactions[0].rcpt_tos == (LEAD,)


async def test_sender_refused_is_the_mailbox_configuration(sink):
    sink.behaviour.mail_from_reply = "553 5.7.1 Sender address rejected: not owned by user"
    with pytest.raises(SendFailure) as failure:
        await provider_for(account_for(sink)).send(outgoing())
    assert failure.value.permanent is False
    assert failure.value.reason.startswith(f"{MAILBOX_CONFIGURATION} Sender {ADDRESS} refused: 553")
    assert failure.value.mailbox_fault is True


@pytest.mark.parametrize(
    ("where", "reply", "permanent"),
    [
        ("data_command_reply", "554 5.7.1 Service unavailable", True),
        ("after_data_reply", "550 5.7.1 Message rejected as spam", True),
        ("after_data_reply", "452 4.3.1 Insufficient system storage", False),
    ],
)
async def test_refusals_of_the_message_itself(sink, where, reply, permanent):
    setattr(sink.behaviour, where, reply)
    with pytest.raises(SendFailure) as failure:
        await provider_for(account_for(sink)).send(outgoing())
    assert failure.value.permanent is permanent
    assert failure.value.smtp_code == int(reply[:3])
    assert reply[4:] in failure.value.reason


async def test_drop_mid_data_is_a_plain_temporary_failure(sink):
    # Bigger than every socket buffer between the two ends, so the server hangs up while the
    # client still holds the end of the message.
    big = b"Subject: big\r\n\r\n" + (b"x" * 76 + b"\r\n") * 400_000
    sink.behaviour.drop_mid_data = True
    with pytest.raises(SendFailure) as failure:
        await provider_for(account_for(sink), timeout=20).send(outgoing(big))
    assert failure.value.permanent is False
    assert "lost while sending the message (before its end)" in failure.value.reason
    assert not sink.transactions


async def test_drop_after_the_whole_message_is_uncertain(sink):
    sink.behaviour.drop_after_data = True
    sink.behaviour.keep_dropped = True
    provider = provider_for(account_for(sink))
    with pytest.raises(DeliveryUncertain) as uncertain:
        await provider.send(outgoing())
    assert "may have accepted it" in str(uncertain.value)
    assert len(sink.transactions) == 1  # it did get through
    sink.behaviour.drop_after_data = False
    await provider.send(outgoing())  # the provider reconnects for the next one
    assert provider.connection.connections_opened == 2


async def test_no_reply_in_time_after_the_message_is_uncertain(sink):
    sink.behaviour.delay_after_data = 2.0
    with pytest.raises(DeliveryUncertain):
        await provider_for(account_for(sink), timeout=0.5).send(outgoing())


async def test_close_quits(sink):
    provider = provider_for(account_for(sink))
    await provider.send(outgoing())
    await provider.close()
    assert provider.connection._client is None
    await provider.close()  # twice is harmless
