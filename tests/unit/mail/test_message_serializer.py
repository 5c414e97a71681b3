"""The hand-written serializer of `build_message`: whatever it is given, the stdlib's parser reads
back exactly the values that went in, the lines stay within their limits, and DKIM verifies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import email
import email.policy
import random
import re
import email.header

import dkim
import pytest

from salescopilot.mail.dkim import generate_dkim_key, sign_message
from salescopilot.mail.message import Address, DkimKey, InvalidMessage, MessageSpec, build_message

WHEN = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherungsanstalt" * 2


def spec(**changes) -> MessageSpec:
    values = dict(message_id="<abc123@example.com>", sender=Address("anna@example.com", "Anna"),
                  recipient=Address("lee@example.org", "Lee"), subject="Hello", text="Hi Lee", date=WHEN)
    values.update(changes)
    return MessageSpec(**values)


def lines_of(text: str) -> str:
    """What a reader gets back from a text part: one newline per line, a newline at the end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def display_name(raw: bytes, header: str, parsed: email.message.EmailMessage) -> str:
    """The display name as RFC 2047 reads it. The stdlib's address parser keeps the space between
    two adjacent encoded words, which RFC 2047 section 6.2 says to drop (mail clients do); those
    are read with `email.header.decode_header`, which follows the RFC."""
    name = parsed[header].addresses[0].display_name
    value = re.search(rf"^{header}: (.*?)\r\n(?! )".encode(), raw, re.M | re.S)[1].decode()
    phrase = value.replace("\r\n", "").rpartition(" <")[0]
    if re.search(r"\?=\s+=\?", phrase) and not phrase.startswith('"'):
        return str(email.header.make_header(email.header.decode_header(phrase)))
    return name


def round_trip(message: MessageSpec, *, utf8: bool = False) -> email.message.EmailMessage:
    """Builds, checks the form of the bytes and that every value reads back exactly."""
    raw = build_message(message)
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    head, _, _ = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        # Only a single token that cannot be broken (a long URL) may pass 78 characters.
        assert len(line.decode()) <= 78 or b" " not in line.split(b": ", 1)[-1].strip(), line
        assert line.strip(b" \t"), "a folded line of only whitespace"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert raw.isascii() or utf8
    if utf8:  # RFC 6532 headers: the stdlib reads them from text, not from bytes
        parsed = email.message_from_string(raw.decode(), policy=email.policy.SMTPUTF8)
    else:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert not parsed.defects
    assert parsed["Subject"] == message.subject
    assert display_name(raw, "From", parsed) == message.sender.name.strip()
    assert display_name(raw, "To", parsed) == message.recipient.name.strip()
    assert parsed["To"].addresses[0].username == message.recipient.email.rpartition("@")[0]
    assert parsed["Date"].datetime == message.date
    assert parsed["Message-ID"] == message.message_id
    for name, value in message.extra_headers:
        assert parsed[name] == value
    assert parsed["MIME-Version"] == "1.0"
    text_part = parsed if message.html is None else next(iter(parsed.iter_parts()))
    expected = message.text
    if message.postal_address:
        expected = expected.rstrip("\r\n") + "\n\n" + message.postal_address.strip() + "\n"
    assert text_part.get_content().replace("\r\n", "\n") == lines_of(expected)
    if message.html is not None:
        assert parsed.get_content_type() == "multipart/alternative"
        text, html = parsed.iter_parts()
        assert not text.defects and not html.defects
        assert html.get_content().replace("\r\n", "\n") == lines_of(message.html)
        assert "MIME-Version" not in html
    return parsed


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "x",
        "A quick question about your sales team",
        "Grüße – Überlegungen zur Größe " * 5,
        "ご提案のお願い：来週の打ち合わせ" * 4,
        "اقتراح تعاون بخصوص فريق المبيعات لديكم في الأسبوع القادم، هل لديك وقت؟",
        "Launch 🎉🚀 next week? " * 6,
        LONG_WORD,
        "short " + LONG_WORD + " tail",
        "  leading and trailing spaces  ",
        "double  spaces and\ttabs",
        "looks encoded =?utf-8?q?hi?= but is not",
        "?= and =? apart",
        "a\x01control",
        "ends with a space ",
        "quotes \"here\" (and comments) <angles> , ; : \\ backslash",
        ("word " * 40).strip(),
    ],
)
def test_subjects_fold_within_78_and_read_back_exactly(subject):
    round_trip(spec(subject=subject))


@pytest.mark.parametrize(
    "name",
    [
        "Anna",
        "Anna Maria Berg",
        'Doe, Anna "AD"',
        "back\\slash",
        "Ånna «Sales» 🚀",
        "山田 太郎",
        "محمد العلي",
        "Zoë 🚀 Smith " * 8,
        LONG_WORD,
        "a" * 80,
        "Anna =?utf-8?q?Evil?=",
        "two  spaces",
    ],
)
def test_display_names_read_back_exactly(name):
    round_trip(spec(sender=Address("anna@example.com", name), recipient=Address("lee@example.org", name),
                    reply_to=Address("replies@example.com", name)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "one line without newline",
        "x" * 2000,
        ("word " * 400).strip(),
        "line with trailing spaces   \nand tabs\t\t\nend",
        "mixed\r\nline\rendings\nhere\r\n",
        "a line starting with\n.dot and\nFrom someone\n--=_sc_x boundary-like",
        "=3D looks encoded =?utf-8?q?x?= =\n",
        "日本語のテキスト。" * 300,
        "Grüße\n" * 50,
        "emoji 😀 " * 200,
        "\x00\x01\x07 control bytes \x7f",
        "\u2028separators\u2029and\x0bvertical\x0ctabs\x1c",
    ],
)
def test_bodies_read_back_exactly_in_both_parts(text):
    round_trip(spec(text=text))
    round_trip(spec(text=text, html=text))


def test_empty_html_and_html_holding_the_boundary_text():
    round_trip(spec(html=""))
    boundary = "=_sc_" + hashlib.sha256(b"<abc123@example.com>").hexdigest()[:32]
    parsed = round_trip(spec(text=f"a\n--{boundary}\nb", html=f"--{boundary}--\n"))
    assert [p["Content-Transfer-Encoding"] for p in parsed.iter_parts()] == ["quoted-printable"] * 2


def test_the_shorter_transfer_encoding_is_chosen_and_plain_ascii_stays_7bit():
    def encoding(text: str) -> str:
        return email.message_from_bytes(build_message(spec(text=text)))["Content-Transfer-Encoding"]

    assert encoding("plain ascii\nlines") == "7bit"
    assert encoding("x" * 79) == "quoted-printable"
    assert encoding("Grüße, " + "plain words " * 20) == "quoted-printable"
    assert encoding("Grüße " * 30) == "base64"
    assert encoding("日本語" * 50) == "base64"


def test_every_header_is_written_once_in_order_and_threading_headers_read_back():
    references = tuple(f"<ref{n}-{'x' * 30}@example.com>" for n in range(6))
    message = spec(
        html="<p>Hi</p>", reply_to=Address("replies@example.com"), in_reply_to=references[-1],
        references=references, unsubscribe_url="https://t.example.com/u/" + "T" * 120,
        unsubscribe_mailto="mailto:u@example.com", extra_headers=(("X-Campaign", "Grüße " * 20),),
    )
    raw = build_message(message)
    parsed = round_trip(message)
    assert [k for k in parsed.keys()] == [
        "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
        "List-Unsubscribe", "List-Unsubscribe-Post", "X-Campaign", "MIME-Version", "Content-Type",
    ]
    assert parsed["References"] == " ".join(references)
    assert parsed["In-Reply-To"] == references[-1]
    assert parsed["List-Unsubscribe"] == f"<{message.unsubscribe_url}>, <mailto:u@example.com>"
    assert parsed["Reply-To"] == "replies@example.com"
    assert b"\r\n\r\n--=_sc_" in raw and raw.endswith(b"--\r\n")


def test_idn_domains_are_punycode_and_odd_local_parts_are_quoted():
    parsed = round_trip(spec(recipient=Address("in(fo)@BÜCHER.example", "Jürgen")))
    assert parsed["To"].addresses[0].addr_spec == '"in(fo)"@xn--bcher-kva.example'
    assert parsed["To"].addresses[0].username == "in(fo)"


def test_a_non_ascii_local_part_makes_raw_utf8_headers():
    message = spec(recipient=Address("jürgen@example.org", "Jürgen Müßig"), subject=("Grüße " * 20).strip())
    raw = build_message(message)
    assert "Jürgen Müßig <jürgen@example.org>".encode() in raw and b"=?utf-8?" not in raw
    round_trip(message, utf8=True)


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "lone \udc80 surrogate"},
        {"text": "lone \ud800 surrogate"},
        {"html": "\udfff"},
        {"sender": Address("anna@example.com", "\udc80")},
        {"recipient": Address("lee@[1.2.3.ü]")},
        {"unsubscribe_url": "https://t.example/" + "u" * 1000},
    ],
)
def test_text_that_cannot_be_encoded_is_refused_not_crashed(changes):
    with pytest.raises(InvalidMessage):
        build_message(spec(**changes))


def test_random_unicode_values_round_trip():
    alphabet = "abcXYZ019 ,.;:\"'()<>[]\\=?_-!*+/@ äöüßéÅ«»–—€日本語محمد😀🚀\t"
    rng = random.Random(2026)
    for _ in range(300):
        def text(length: int) -> str:
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, length)))

        # Display names with single spaces only: the stdlib reader turns other whitespace in a
        # name into one space (a subject keeps it).
        name = " ".join(text(90).split())
        round_trip(spec(subject=text(150), sender=Address("anna@example.com", name),
                        text=text(300), html=text(300) if rng.random() < 0.5 else None))


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_dkim_signs_the_same_headers_whether_or_not_it_is_told_them(kind):
    pem, record = generate_dkim_key(kind)
    key = DkimKey("bücher.example", "s1", pem)
    message = spec(subject="Grüße " * 20, html="<p>Hi</p>", reply_to=Address("r@example.com", "R"),
                   in_reply_to="<a@example.com>", references=("<a@example.com>",),
                   unsubscribe_url="https://t.example.com/u/1", extra_headers=(("X-Campaign", "c"),))
    signed = build_message(dataclasses.replace(message, dkim=key))
    unsigned = build_message(message)
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(unsigned)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode())
    read_headers = sign_message(unsigned, key)  # finds the headers by reading the bytes

    def signed_headers(raw: bytes) -> str:
        value = email.message_from_bytes(raw)["DKIM-Signature"]
        return value.split("h=")[1].split(";")[0].replace("\r\n", "").replace(" ", "")

    assert signed_headers(signed) == signed_headers(read_headers) == (
        "from:to:subject:date:message-id:mime-version:content-type:list-unsubscribe:"
        "list-unsubscribe-post:in-reply-to:references:reply-to"
    )


def test_smtputf8_messages_verify_with_dkim():
    pem, record = generate_dkim_key("ed25519")
    raw = build_message(spec(recipient=Address("jürgen@example.org", "Jürgen"),
                             dkim=DkimKey("example.com", "s1", pem)))
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())
