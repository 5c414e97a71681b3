"""Message building: headers, encodings, threading helpers, refusals of bad values, DKIM keys."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

import dkim
import pytest

from salescopilot.mail.dkim import InvalidDkimKey, generate_dkim_key, sign_message
from salescopilot.mail.message import (
    Address,
    DkimKey,
    InvalidMessage,
    MessageSpec,
    build_message,
    message_id_domain,
    new_message_id,
    reply_subject,
)

WHEN = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def spec(**changes) -> MessageSpec:
    values = dict(message_id="<abc123@example.com>", sender=Address("anna@example.com", "Anna"),
                  recipient=Address("lee@example.org"), subject="Hello", text="Hi Lee", date=WHEN)
    values.update(changes)
    return MessageSpec(**values)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_plain_text_message_is_seven_bit_crlf_and_deterministic():
    raw = build_message(spec())
    assert raw == build_message(spec())
    assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b"")
    message = parse(raw)
    assert message.get_content_type() == "text/plain"
    assert message["Content-Transfer-Encoding"] == "7bit"
    assert message["List-Unsubscribe"] is None and message["In-Reply-To"] is None


def test_long_lines_and_non_latin_text_are_encoded_within_line_limits():
    text = ("日本語のテキスト。" * 200) + "\n" + "x" * 5000
    raw = build_message(spec(text=text, html="<p>" + "y" * 3000 + "</p>"))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    parts = list(parse(raw).iter_parts())
    assert {p["Content-Transfer-Encoding"] for p in parts} <= {"base64", "quoted-printable"}
    assert parts[0].get_content().replace("\r\n", "\n") == text + "\n"


def test_transfer_encoding_is_chosen_by_size():
    mostly_ascii = parse(build_message(spec(text="Grüße, " + "plain words " * 20)))
    assert mostly_ascii["Content-Transfer-Encoding"] == "quoted-printable"
    japanese = parse(build_message(spec(text="こんにちは" * 30)))
    assert japanese["Content-Transfer-Encoding"] == "base64"


def test_non_ascii_local_part_switches_to_smtputf8_and_only_then():
    assert build_message(spec(recipient=Address("lee@bücher.example", "Jürgen"))).isascii()
    raw = build_message(spec(recipient=Address("jürgen@example.org")))
    assert "To: jürgen@example.org".encode() in raw


def test_names_and_subjects_use_encoded_words():
    raw = build_message(spec(sender=Address("anna@example.com", "Ånna «Sales» 🚀"), subject="Ça va? 😀"))
    assert b"=?utf-8?" in raw
    message = parse(raw)
    assert message["From"].addresses[0].display_name == "Ånna «Sales» 🚀"
    assert message["Subject"] == "Ça va? 😀"


def test_a_name_with_specials_is_quoted():
    message = parse(build_message(spec(sender=Address("anna@example.com", 'Doe, Anna "AD"'))))
    assert message["From"].addresses[0].display_name == 'Doe, Anna "AD"'
    assert message["From"].addresses[0].addr_spec == "anna@example.com"


def test_only_an_https_unsubscribe_url_gets_one_click_post():
    mailto_only = parse(build_message(spec(unsubscribe_mailto="mailto:u@example.com")))
    assert mailto_only["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert mailto_only["List-Unsubscribe-Post"] is None


def test_tracking_and_footer_in_the_html_part():
    message = parse(build_message(spec(
        html='<html><body><a href="https://a.example/x">x</a> <a href="https://t.example/u/1">stop</a></body></html>',
        unsubscribe_url="https://t.example/u/1",
        open_pixel_url="https://t.example/o/TOKEN",
        click_url=lambda index, url: f"https://t.example/c/{index}",
        postal_address="Acme Inc.\n1 Main St, Springfield",
    )))
    html = list(message.iter_parts())[1].get_content()
    assert '<a href="https://t.example/c/0">x</a>' in html
    assert '<a href="https://t.example/u/1">stop</a>' in html  # the unsubscribe link stays
    assert html.index("Acme Inc.<br>1 Main St") < html.index("https://t.example/o/TOKEN") < html.index("</body>")


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"sender": Address("anna@example.com", "Anna\nBcc: x@y")},
        {"recipient": Address("not an address")},
        {"recipient": Address("a@b@c>")},
        {"message_id": "no-brackets@example.com"},
        {"in_reply_to": "<a@b>\r\nX: y"},
        {"references": ("<ok@example.com>", "bad")},
        {"date": dt.datetime(2026, 11, 24, 9, 0)},
        {"unsubscribe_url": "http://insecure.example/u"},
        {"unsubscribe_url": "https://x.example/u>, <https://evil"},
        {"unsubscribe_mailto": "https://not-mailto"},
        {"extra_headers": (("From", "evil@example.com"),)},
        {"extra_headers": (("X-Campaign", "a\r\nBcc: x@y"),)},
        {"extra_headers": (("Bad Name", "x"),)},
        {"recipient": Address("lee@exa mple.org")},
        {"recipient": Address("lee@-bad-.example")},
    ],
)
def test_values_that_cannot_go_into_a_message_are_refused(changes):
    with pytest.raises(InvalidMessage):
        build_message(spec(**changes))


def test_extra_headers_are_written():
    message = parse(build_message(spec(extra_headers=(("X-Campaign-Id", "c-42"),))))
    assert message["X-Campaign-Id"] == "c-42"


def test_new_message_ids_are_unique_unguessable_and_on_the_sending_domain():
    ids = {new_message_id("bücher.example") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"<[0-9a-f]{32}@xn--bcher-kva\.example>", i) for i in ids)
    assert message_id_domain("Anna@Example.COM") == "example.com"
    with pytest.raises(InvalidMessage):
        message_id_domain("no-at-sign")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: re: Hello", "Re: Hello"),
        ("Aw: Hello", "Re: Hello"),
        ("SV: Hello", "Re: Hello"),
        ("Antw: Hello", "Re: Hello"),
        ("Re[2]: Hello", "Re: Hello"),
        ("回复：你好", "Re: 你好"),
        ("Fwd: Hello", "Re: Fwd: Hello"),
        ("ΑΠ: Θέμα", "Re: Θέμα"),
        ("Ref: invoice 42", "Re: Ref: invoice 42"),
        ("Regarding the plan", "Re: Regarding the plan"),
        ("  Re:Hello  ", "Re: Hello"),
    ],
)
def test_reply_subject_adds_re_exactly_once(subject, expected):
    assert reply_subject(subject) == expected
    assert reply_subject(reply_subject(subject)) == expected


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_generated_keys_sign_and_their_dns_record_verifies(kind):
    pem, record = generate_dkim_key(kind)
    assert record.startswith(f"v=DKIM1; k={kind}; p=")
    raw = build_message(spec(dkim=DkimKey("example.com", "s1", pem)))
    assert raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())
    other_pem, other_record = generate_dkim_key(kind)
    assert not dkim.verify(raw, dnsfunc=lambda name, timeout=5: other_record.encode())


def test_unusable_dkim_keys_are_refused():
    raw = build_message(spec())
    with pytest.raises(InvalidDkimKey):
        sign_message(raw, DkimKey("example.com", "s1", b"-----BEGIN PRIVATE KEY-----\ngarbage\n"))
    pem, _ = generate_dkim_key("rsa")
    with pytest.raises(InvalidDkimKey):
        sign_message(raw, DkimKey("example.com", "bad selector!", pem))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidDkimKey, match="RSA or Ed25519"):
        sign_message(raw, DkimKey("example.com", "s1", ec_pem))
    with pytest.raises(ValueError):
        generate_dkim_key("dsa")  # type: ignore[arg-type]


async def test_the_signing_pool_signs_exactly_as_inline_and_reports_bad_keys():
    from salescopilot.mail.dkim import DkimSigner
    from salescopilot.mail.message import build_unsigned

    pem, record = generate_dkim_key("rsa")
    key = DkimKey("example.com", "s1", pem)
    raw, names = build_unsigned(spec())
    signer = DkimSigner(processes=1)
    try:
        pooled = await signer.sign(raw, key, names)
        inline = sign_message(raw, key, names)
        assert pooled.endswith(raw) and inline.endswith(raw)
        # The same signature header but for its time (t=) and so its signature value (b=).
        assert header_tags(pooled) == header_tags(inline)
        for signed in (pooled, inline):
            assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode())
        with pytest.raises(InvalidDkimKey, match="selector"):
            await signer.sign(raw, DkimKey("example.com", "bad selector!", pem), names)
    finally:
        signer.shutdown()
    assert header_tags(await DkimSigner(processes=0).sign(raw, key, names)) == header_tags(pooled)


def header_tags(signed: bytes) -> dict[str, str]:
    """The DKIM-Signature's tags but t= and b=."""
    header = email.message_from_bytes(signed, policy=email.policy.compat32)["DKIM-Signature"]
    tags = dict(part.strip().split("=", 1) for part in re.sub(r"\s+", "", header).split(";") if part.strip())
    return {name: value for name, value in tags.items() if name not in ("t", "b")}
