"""The classifier's parts on their own: status codes, return dates in seven languages, the
sender's own words, cues, and the Verdict's JSON shape."""

from __future__ import annotations

import datetime as dt

import pytest

from salescopilot.mail import status_codes as codes
from salescopilot.mail.classify import AutoReply, Bounce, Verdict, classify_message
from salescopilot.mail.classify_cues import unsubscribe_requested
from salescopilot.mail.classify_dates import return_date
from salescopilot.mail.classify_parse import decode_bytes, message_ids, new_text

NOV_24 = dt.date(2026, 11, 24)


@pytest.mark.parametrize(
    ("code", "hard", "permanent", "reason"),
    [
        ("5.1.1", True, True, codes.USER_UNKNOWN),
        ("5.1.2", True, True, codes.BAD_DOMAIN),
        ("5.1.10", True, True, codes.BAD_DOMAIN),
        ("5.2.1", True, True, codes.MAILBOX_DISABLED),
        ("5.2.2", False, True, codes.MAILBOX_FULL),  # RFC 3463: a persistent transient failure
        ("4.2.2", False, False, codes.MAILBOX_FULL),
        ("5.3.4", False, True, codes.MESSAGE_TOO_LARGE),
        ("5.4.4", True, True, codes.ROUTING),
        ("4.4.7", False, False, codes.EXPIRED),
        ("5.7.1", False, True, codes.BLOCKED),
        ("5.7.26", False, True, codes.AUTH_FAILED),
        ("5.7.606", False, True, codes.POLICY_REJECTED),
        ("5.9.9", True, True, codes.UNKNOWN),
        (" 5.1.1 ", True, True, codes.USER_UNKNOWN),
    ],
)
def test_describe_status(code, hard, permanent, reason):
    meaning = codes.describe_status(code)
    assert (meaning.hard, meaning.permanent, meaning.reason) == (hard, permanent, reason)
    assert meaning.code == code.strip()


@pytest.mark.parametrize("junk", ["", "550", "5.1", "6.1.1", "5.1.1.1", "x.y.z", "2.0.0",
                                  "5.1.1234", "５.１.１"])
def test_describe_status_of_non_codes(junk):
    meaning = codes.describe_status(junk)
    assert meaning.hard is False and meaning.reason == codes.UNKNOWN


def test_a_reason_from_the_text_decides_hardness():
    assert codes.meaning_for("5.1.10", codes.USER_UNKNOWN).hard is True
    assert codes.meaning_for("5.0.0", codes.SPAM_REJECTED).hard is False
    assert codes.meaning_for(None, codes.USER_UNKNOWN).hard is True  # the words condemn it
    assert codes.meaning_for(None, codes.UNKNOWN).hard is False  # nothing proves it dead
    assert codes.status_from_basic_code(550) == "5.0.0"
    assert codes.status_from_basic_code(421) == "4.0.0"
    assert codes.status_from_basic_code(250) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am out of the office until Monday, December 7th.", "2026-12-07"),
        ("Back on 12/03/2026.", "2026-12-03"),  # English: month first when ambiguous
        ("On leave until 04/12/2026.", "2026-12-04"),  # ...unless that would be in the past
        ("Away from 20 November to 3 December 2026.", "2026-12-03"),
        ("Ich bin bis einschließlich 04.12.2026 nicht im Büro.", "2026-12-04"),
        ("Vom 20. bis 30. Dezember im Urlaub, ab dem 4.1. wieder da.", "2027-01-04"),
        ("Je serai de retour le lundi 7 décembre.", "2026-12-07"),
        ("Je suis en congés jusqu'au 2 decembre.", "2026-12-02"),  # no accent
        ("Estaré fuera hasta el 3 de diciembre de 2026.", "2026-12-03"),
        ("Estou de férias até 1º de dezembro.", "2026-12-01"),
        ("Retorno em 07/12/2026.", "2026-12-07"),
        ("Ik ben tot en met 2 december afwezig.", "2026-12-02"),
        ("Ik ben t/m 27 nov. afwezig.", "2026-11-27"),
        ("Jag är tillbaka den 3 december.", "2026-12-03"),
        ("Åter i tjänst 2027-02-01.", "2027-02-01"),
        ("Back on 5 January.", "2027-01-05"),  # a yearless date after the message: next year
        ("I'm away, back on Monday.", "2026-11-30"),  # NOV_24 is a Tuesday
        ("Ich bin bis Freitag nicht im Büro.", "2026-11-27"),
        ("Estaré fuera hasta el martes.", "2026-12-01"),  # the same weekday: a week later
        ("Available Monday to Friday, 9 to 5.", None),  # no return cue before the weekday
        ("One out of 3 calls at 10.30 on 24/7 support.", None),
        ("Until 31.02.2027, or 45/13/2026.", None),  # impossible dates are no dates
    ],
)
def test_return_dates(text, expected):
    english = text.startswith(("I", "Back", "On", "Away", "One", "Until"))
    found = return_date(text, NOV_24, month_first=english)
    assert (found.isoformat() if found else None) == expected


def test_a_yearless_date_needs_a_reference():
    assert return_date("back on 3 December", None) is None
    assert return_date("back on 3 December 2026", None) == dt.date(2026, 12, 3)
    raw = b"From: a@example.com\nSubject: Out of office\n\nI am away until 3 December.\n"
    assert classify_message(raw).auto_reply == AutoReply(None)
    assert classify_message(raw, reference_date=NOV_24).auto_reply == AutoReply(
        dt.date(2026, 12, 3))


def test_new_text_drops_quotes_attributions_and_signatures():
    body = ("Yes, let's talk.\n> quoted line\nBest\n-- \nJo | unsubscribe me from nothing\n")
    assert new_text(body) == "Yes, let's talk.\nBest"
    outlook = "Sure.\n\nFrom: Anna Berg <a@b>\nSent: Tuesday\nTo: Jo\n\nI am out of the office"
    assert new_text(outlook).strip() == "Sure."
    assert new_text("Ok\n\nAm Di., 24. Nov. 2026 um 08:14 Uhr schrieb Anna:\n> x").strip() == "Ok"


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Re: offer", "Please remove me from your list.", True),
        ("unsubscribe", "", True),
        ("Re: STOP", "", True),
        ("Stop by our booth", "", False),
        ("Re: offer", "To unsubscribe click here: https://x.test/u", False),
        ("Re: offer", "Can you remove the setup fee?", False),
        ("Re: offer", "Bitte tragen Sie mich aus Ihrem Verteiler aus.", True),
        ("Re: offer", "Merci de me désinscrire.", True),
        ("Re: offer", "Por favor, denme de baja.", True),
        ("Re: offer", "Não quero receber mais e-mails.", True),
        ("Re: offer", "Verwijder mij uit uw bestand.", True),
        ("Re: offer", "Sluta skicka mejl till mig.", True),
    ],
)
def test_unsubscribe_requests(subject, text, expected):
    assert unsubscribe_requested(subject, text) is expected


def test_decoding_tolerates_lies():
    assert decode_bytes("Grüße".encode(), "no-such-charset") == "Grüße"
    assert decode_bytes("Grüße".encode("latin-1"), "utf-8") == "Grüße"
    assert decode_bytes(b"\x81\x8d", "base64") == "\ufffd\ufffd"  # not a text codec
    assert message_ids("<a@b> junk <c@d> <a@b>") == ("<a@b>", "<c@d>")
    assert message_ids("bare@id.example") == ("<bare@id.example>",)
    assert message_ids("no id here") == ()


def test_verdict_json_shape_is_exactly_the_documented_one():
    verdict = Verdict(kind="bounce", bounce=Bounce(True, "5.1.1", "user_unknown", ("a@b.c",)),
                      in_reply_to="<x@y>", original_message_id="<o@p>", references=("<x@y>",),
                      from_address="mailer-daemon@b.c")
    assert verdict.to_dict() == {
        "kind": "bounce",
        "bounce": {"hard": True, "status": "5.1.1", "reason": "user_unknown",
                   "recipients": ["a@b.c"]},
        "auto_reply": None, "in_reply_to": "<x@y>", "original_message_id": "<o@p>",
    }
    assert Verdict(kind="auto_reply", auto_reply=AutoReply(None)).to_dict()["auto_reply"] == {
        "return_date": None}


def test_threading_and_sender_are_kept_for_the_matcher():
    raw = (b"From: \"Jo\" <Jo@Example.COM>\nSubject: Re: hi\nIn-Reply-To: <m1@us.test>\n"
           b"References: <m0@us.test>\n <m1@us.test>\nMessage-ID: <r1@example.com>\n\nThanks!\n")
    verdict = classify_message(raw)
    assert verdict.kind == "reply"
    assert verdict.from_address == "jo@example.com"
    assert verdict.references == ("<m0@us.test>", "<m1@us.test>")
    assert verdict.in_reply_to == "<m1@us.test>"
    assert verdict.message_id == "<r1@example.com>"


def test_phrase_tables_are_lower_case_and_boundaries_hold():
    import gc
    import re

    from salescopilot.mail.phrases import Phrases

    tables = [o for o in gc.get_objects() if isinstance(o, Phrases)]
    assert len(tables) >= 15  # cues, diagnostic reasons, delay/permanent cues, markers
    for table in tables:
        literal = re.sub(r"\\[A-Za-z]", "", table._regex.pattern).replace("(?x)", "")
        assert literal == literal.lower(), table._regex.pattern[:60]
    words = Phrases(r"stop|remove\ me")
    assert words.search("please remove me") is not None
    assert words.search("nonstop fun") is None  # no match inside a word
    assert [m.group() for m in words.finditer("stop. nonstop. stop")] == ["stop", "stop"]


@pytest.mark.parametrize(
    ("reply_code", "text", "status", "hard", "reason"),
    [
        (550, "5.1.1 <jo@example.com>: Recipient address rejected: User unknown", "5.1.1", True,
         codes.USER_UNKNOWN),
        (554, "5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
              "zen.spamhaus.org", "5.7.1", False, codes.BLOCKED),
        (550, "Requested action not taken: mailbox unavailable", "5.0.0", True,
         codes.USER_UNKNOWN),
        (552, "Message size exceeds fixed maximum message size", "5.0.0", False,
         codes.MESSAGE_TOO_LARGE),
        (451, "4.7.1 Greylisted, please try again later", "4.7.1", False, codes.BLOCKED),
        (421, "Service not available", "4.0.0", False, codes.UNKNOWN),
        (550, "", "5.0.0", True, codes.UNKNOWN),  # a bare permanent refusal
        (None, "no code at all", None, False, codes.UNKNOWN),
    ],
)
def test_describe_reply_for_the_sending_side(reply_code, text, status, hard, reason):
    meaning = codes.describe_reply(reply_code, text)
    assert (meaning.code, meaning.hard, meaning.reason) == (status, hard, reason)


def test_status_codes_in_text_are_not_ip_addresses_or_versions():
    assert codes.enhanced_code_in("host 5.1.1.20 said 550 5.2.2 full") == "5.2.2"
    assert codes.enhanced_code_in("Postfix 3.5.1 and 2.0.0 ok") is None


def test_bottom_posted_answers_are_read_below_the_quote():
    body = ("On Tue, 24 Nov 2026 at 08:14, Anna Berg <anna@x.test> wrote:\n> Would a call help?\n"
            ">\n\nPlease remove me from your list.\n")
    assert new_text(body).strip() == "Please remove me from your list."
    raw = ("From: jo@example.com\nSubject: Re: call\nIn-Reply-To: <m@x.test>\n\n" + body).encode()
    assert classify_message(raw).kind == "unsubscribe"
