"""Hostile input never makes the classifier raise: random bytes, truncated and mutated fixtures,
huge, deeply nested and oddly encoded messages. The tests call `classify_strict` (no last-resort
guard), so any exception the guard would hide fails them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salescopilot.mail.classify import KINDS, UNREADABLE, classify_message, classify_strict
from salescopilot.mail.classify_parse import MAX_MESSAGE_BYTES

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
SAMPLES = {p.name: p.read_bytes() for p in sorted(FIXTURES.rglob("*.eml"))}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Fragments that steer the parser into its less travelled paths.
TOKENS = [b"\r\n", b"\n\n", b"--", b"=?", b"?=", b"=?utf-8?B?", b"=?x?Q?=FF?=", b"boundary=",
          b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"z\"\n\n--z\n",
          b"Content-Type: message/delivery-status\n\n", b"Status: 5.", b"Action: failed\n",
          b"Final-Recipient: rfc822;", b"charset=\"utf-7\"", b"charset=\"base64\"", b"\x00",
          b"\xff\xfe", b"Content-Transfer-Encoding: base64\n", b"Content-Transfer-Encoding: "
          b"quoted-printable\n", b"=\n", b"<", b">", b"@", b"\"notificationType\": {",
          b"message/feedback-report", b"message/rfc822", b"Auto-Submitted: auto-replied\n",
          b"until 31.02.", b"bis 99.99.9999", b"2026-13-45", b"\t", b" ", b":"]


def check(raw: bytes) -> None:
    verdict = classify_strict(raw)
    assert verdict.kind in KINDS
    json.dumps(verdict.to_dict())  # always serialisable


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(raw):
    check(raw)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.floats(min_value=0, max_value=1))
def test_truncated_fixtures(name, fraction):
    raw = SAMPLES[name]
    check(raw[: int(len(raw) * fraction)])


@FUZZ
@given(
    st.sampled_from(sorted(SAMPLES)),
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=1),
                  st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)),
                  st.integers(min_value=0, max_value=12)),
        min_size=1, max_size=8,
    ),
)
def test_mutated_fixtures(name, edits):
    raw = bytearray(SAMPLES[name])
    for where, insert, delete in edits:
        at = int(len(raw) * where)
        raw[at:at + delete] = insert
    check(bytes(raw))


@FUZZ
@given(st.text(max_size=2000), st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]))
def test_arbitrary_text_bodies(body, charset):
    head = (f"From: someone@example.com\nSubject: Re: hello\nContent-Type: text/plain; "
            f"charset={charset}\n\n").encode()
    check(head + body.encode(charset, errors="replace"))


def test_huge_message_is_capped_and_still_read():
    attachment = b"QUFB" * (3 * 2**20)  # 12 MiB of base64
    raw = (b"From: Big Sender <big@example.com>\nSubject: Re: offer\nIn-Reply-To: <a@b>\n"
           b"Content-Type: multipart/mixed; boundary=\"q\"\n\n--q\nContent-Type: text/plain\n\n"
           b"Yes please, send the contract.\n--q\nContent-Type: application/pdf\n"
           b"Content-Transfer-Encoding: base64\n\n" + attachment + b"\n--q--\n")
    started = time.process_time()
    verdict = classify_strict(raw)
    assert verdict.kind == "reply" and verdict.in_reply_to == "<a@b>"
    assert time.process_time() - started < 5  # a generous bound: the cap is what is tested
    assert MAX_MESSAGE_BYTES < len(raw)


@pytest.mark.parametrize("depth", [150, 250, 5000])
def test_deep_nesting_is_read_for_its_headers(depth):
    nested = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
                     for i in range(depth))
    raw = f"From: deep@example.com\nSubject: Re: nest\n{nested}\nhello\n".encode()
    verdict = classify_strict(raw)
    assert verdict.kind == "reply" and verdict.from_address == "deep@example.com"


def test_thousands_of_parts():
    parts = "".join(f"--p\nContent-Type: application/octet-stream\n\n{i}\n" for i in range(5000))
    raw = (f"From: many@example.com\nSubject: Re: parts\nContent-Type: multipart/mixed; "
           f"boundary=\"p\"\n\n{parts}--p--\n").encode()
    assert classify_strict(raw).kind == "reply"


def test_only_bytes_are_accepted():
    with pytest.raises(TypeError):
        classify_message("From: a@b\n\nhi")  # type: ignore[arg-type]
    assert classify_message(bytearray(b"")) == UNREADABLE
