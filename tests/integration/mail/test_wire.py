"""Built messages sent through the `smtp` provider to a real SMTP server: the bytes that arrive,
their headers, DKIM signatures, threading and unicode."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import dkim
import pytest

from salescopilot.mail.dkim import generate_dkim_key
from salescopilot.mail.message import (
    Address,
    DkimKey,
    MessageSpec,
    build_message,
    message_id_domain,
    new_message_id,
    reply_subject,
)
from salescopilot.plugin_system.interfaces import OutgoingMessage
from tests.integration.mail.conftest import ADDRESS, account_for, provider_for

WHEN = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def spec(**changes) -> MessageSpec:
    values = dict(
        message_id=new_message_id(message_id_domain(ADDRESS)),
        sender=Address(ADDRESS, "Anna Schmidt"),
        recipient=Address("lead@example.org", "Lee Lead"),
        subject="Quick question",
        text="Hi Lee,\n\nA short note.\n\nAnna",
        date=WHEN,
    )
    values.update(changes)
    return MessageSpec(**values)


async def send_all(sink, specs: list[MessageSpec]) -> list[bytes]:
    provider = provider_for(account_for(sink))
    for one in specs:
        raw = build_message(one)
        await provider.send(OutgoingMessage(one.message_id, one.sender.email,
                                            (one.recipient.email,), raw))
    await provider.close()
    return [t.data for t in sink.transactions]


async def test_the_exact_bytes_arrive_with_the_expected_headers(sink):
    message = spec(
        html="<p>Hi Lee, <a href='https://example.net/x'>a link</a></p>",
        reply_to=Address("replies@example.com"),
        unsubscribe_url="https://t.example.com/u/TOKEN",
        unsubscribe_mailto="mailto:unsubscribe@example.com?subject=unsubscribe",
        postal_address="Example GmbH, Hauptstr. 1, 10115 Berlin",
    )
    raw = build_message(message)
    [received] = await send_all(sink, [message])
    assert received == raw
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(received, policy=email.policy.default)
    assert parsed["From"] == "Anna Schmidt <anna@example.com>"
    assert parsed["To"] == "Lee Lead <lead@example.org>"
    assert parsed["Reply-To"] == "replies@example.com"
    assert parsed["Subject"] == "Quick question"
    assert parsed["Date"] == "Tue, 24 Nov 2026 09:30:00 +0100"
    assert parsed["Message-ID"] == message.message_id
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe"] == (
        "<https://t.example.com/u/TOKEN>, <mailto:unsubscribe@example.com?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content().replace("\r\n", "\n").endswith("Anna\n\nExample GmbH, Hauptstr. 1, 10115 Berlin\n")
    assert "Example GmbH, Hauptstr. 1, 10115 Berlin" in html.get_content()
    assert "MIME-Version" not in html


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_dkim_signature_verifies_on_what_the_server_received(sink, kind):
    private_pem, record = generate_dkim_key(kind)
    message = spec(
        subject="Grüße aus Köln 👋",
        html="<p>Hallo</p>",
        unsubscribe_url="https://t.example.com/u/TOKEN",
        dkim=DkimKey("example.com", "sc2026", private_pem),
    )
    [received] = await send_all(sink, [message])
    looked_up = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record.encode()

    assert dkim.verify(received, dnsfunc=dns)
    assert looked_up == [b"sc2026._domainkey.example.com."]
    signature = email.message_from_bytes(received)["DKIM-Signature"]
    assert f"a={'rsa' if kind == 'rsa' else 'ed25519'}-sha256" in signature
    assert "c=relaxed/relaxed" in signature
    signed = signature.split("h=")[1].split(";")[0].replace(" ", "").replace("\r\n", "")
    assert signed.split(":") == [
        "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
        "list-unsubscribe", "list-unsubscribe-post",
    ]
    tampered = received.replace(b"Hallo", b"Hallo!")
    assert not dkim.verify(tampered, dnsfunc=dns)


async def test_a_three_step_sequence_threads_from_one_mailbox(sink):
    first = spec(subject="Ideas for Acme")
    second = spec(subject=reply_subject(first.subject), in_reply_to=first.message_id,
                  references=(first.message_id,))
    third = spec(subject=reply_subject(second.subject), in_reply_to=second.message_id,
                 references=(first.message_id, second.message_id))
    received = await send_all(sink, [first, second, third])
    parsed = [email.message_from_bytes(r, policy=email.policy.default) for r in received]
    assert [p["Subject"] for p in parsed] == ["Ideas for Acme", "Re: Ideas for Acme", "Re: Ideas for Acme"]
    assert parsed[0]["In-Reply-To"] is None and parsed[0]["References"] is None
    assert parsed[1]["In-Reply-To"] == first.message_id
    assert parsed[1]["References"] == first.message_id
    assert parsed[2]["In-Reply-To"] == second.message_id
    assert parsed[2]["References"] == f"{first.message_id} {second.message_id}"
    assert {p["From"].addresses[0].addr_spec for p in parsed} == {ADDRESS}
    assert len({p["Message-ID"] for p in parsed}) == 3


@pytest.mark.parametrize(
    ("name", "subject", "body"),
    [
        ("山田 太郎", "ご提案のお願い：来週の打ち合わせ", "山田様\nお世話になっております。"),
        ("محمد العلي", "اقتراح تعاون", "مرحبا محمد،\nشكرا لوقتك."),
        ("Jürgen Müßig", "Grüße – Überlegungen zur Größe", "Sehr geehrter Herr Müßig,\nviele Grüße."),
        ("Zoë 🚀 Smith", "Launch 🎉🚀 next week?", "Hi Zoë 👋\nCheers 🎉"),
    ],
)
async def test_unicode_names_subjects_and_bodies_survive_the_trip(sink, name, subject, body):
    message = spec(recipient=Address("lead@example.org", name), subject=subject, text=body,
                   html=f"<p>{body}</p>")
    [received] = await send_all(sink, [message])
    assert received.isascii()  # encoded words and transfer encodings, no SMTPUTF8 needed
    parsed = email.message_from_bytes(received, policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == name
    assert parsed["Subject"] == subject
    text, html = parsed.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == body + "\n"
    assert body in html.get_content().replace("\r\n", "\n")
    assert text["Content-Transfer-Encoding"] in ("quoted-printable", "base64")


async def test_an_idn_domain_goes_out_as_punycode(sink):
    message = spec(recipient=Address("info@bücher.example"))
    [received] = await send_all(sink, [message])
    assert b"To: info@xn--bcher-kva.example" in received
    assert sink.transactions[0].rcpt_tos == ("info@xn--bcher-kva.example",)
