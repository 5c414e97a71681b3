"""The spam check (SpamAssassin 4, local tests only, Bayes off) and the gate of issue #5: every
pre-built template, rendered for a sample lead and built as the outbox builds it (sender,
signature, postal footer, List-Unsubscribe, open pixel and tracked links, DKIM when configured),
scores at most 2.0. Without SpamAssassin these tests fail under CI and are skipped elsewhere."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from salescopilot.mail import spam_score
from salescopilot.mail.dkim import sign_message
from salescopilot.mail.message import Address, MessageSpec, build_message, new_message_id
from salescopilot.mail.spam_score import GOOD_SCORE, SpamCheckUnavailable, spam_check, spam_check_many
from salescopilot.mail.tracking import TrackingTokens
from salescopilot.mailboxes.tables import Mailbox, SendingDomain
from salescopilot.outbox.building import SenderContext, build_outgoing
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.templates.library import LIBRARY
from salescopilot.templates.renderer import render_template
from tests.conftest import service_missing

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
SAMPLE_LEAD = {
    "email": "dana.reyes@northwind-logistics.com", "firstName": "Dana", "lastName": "Reyes",
    "fullName": "Dana Reyes", "company": "Northwind Logistics", "title": "VP of Sales",
    "phone": "+1 312 555 0142", "website": "https://northwind-logistics.com", "linkedinUrl": "",
    "timezone": "America/Chicago", "country": "US", "status": "new", "tags": [],
    "custom": {"industry": "Logistics"},
    "sender": {"firstName": "Sam", "fullName": "Sam Carter", "email": "sam@brightpath.io"},
}
POSTAL = "Brightpath Inc., 500 Market Street, Suite 400, San Francisco, CA 94105, USA"


class PlainBox:
    """Stands for the tenant SecretBox: the test's DKIM key is stored unsealed."""

    def decrypt(self, sealed: str) -> str:
        return sealed


@pytest.fixture(scope="module")
def spamassassin():
    if spam_score.spamassassin_path() is None:
        service_missing("SpamAssassin (Debian package spamassassin)", FileNotFoundError("spamassassin"))


@pytest.fixture(scope="module")
def dkim_domain() -> SendingDomain:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return SendingDomain(domain="brightpath.io", dkim_selector="sc1", dkim_private_key=pem, dkim_enabled=True)


def _outgoing(subject: str, text: str, html: str, *, domain: SendingDomain | None, tracking: bool) -> bytes:
    mailbox = Mailbox(email="sam@brightpath.io", from_name="Sam Carter", provider="smtp",
                      signature_text="Sam Carter\nAccount Executive, Brightpath\nbrightpath.io")
    row = OutboxMessage(
        id=uuid.uuid4(), enrollment=uuid.uuid4(), step=0, message_id=new_message_id("brightpath.io"),
        recipient_email=SAMPLE_LEAD["email"], recipient_name="Dana Reyes",
        recipient_domain="northwind-logistics.com", subject=subject, body_text=text, body_html=html,
        track_opens=tracking, track_clicks=tracking,
    )
    context = SenderContext(mailbox, domain, POSTAL, "https://brightpath.salescopilot.example")
    built = build_outgoing(row, context, TrackingTokens(b"k" * 32), PlainBox(), NOW)  # type: ignore[arg-type]
    # Signed as the sender signs it.
    return sign_message(built.raw, built.dkim, built.header_names) if built.dkim else built.raw


async def test_every_library_template_scores_at_most_2(spamassassin, dkim_domain):
    """All 20 templates, each with and without DKIM and with and without open/click tracking:
    the four ways the product can send them."""
    assert len(LIBRARY) >= 20
    cases, messages = [], []
    for template in LIBRARY:
        rendered = render_template(template.subject, template.html, template.text, SAMPLE_LEAD, strict=True)
        for domain in (dkim_domain, None):
            for tracking in (True, False):
                cases.append(f"{template.slug} (dkim={domain is not None}, tracking={tracking})")
                messages.append(_outgoing(rendered.subject, rendered.text, rendered.html,
                                          domain=domain, tracking=tracking))
    assert b"DKIM-Signature:" in messages[0] and b"List-Unsubscribe:" in messages[0]
    verdicts = await spam_check_many(messages)
    too_high = [f"{case}: {verdict.summary}" for case, verdict in zip(cases, verdicts, strict=True)
                if verdict.score > GOOD_SCORE]
    assert not too_high, "\n".join(too_high)


async def test_an_obvious_spam_message_scores_high_with_the_rules_named(spamassassin):
    spam = build_message(MessageSpec(
        message_id=new_message_id("example.com"), sender=Address("winner@example.com"),
        recipient=Address("you@example.org"), subject="FREE MONEY!!! ACT NOW!!! 100% GUARANTEED",
        text=("Dear friend, CLICK HERE to claim your FREE prize!!! Act now, limited time offer! "
              "Earn $$$ from home, no credit check, 100% guaranteed, risk free. Viagra cheap. "
              "Unsubscribe never. Wire transfer of US$10,000,000 to your bank account today.\n"),
        date=NOW,
    ))
    verdict = await spam_check(spam)
    assert verdict.score > 3.0, verdict.summary
    assert verdict.required == 5.0
    names = {rule.name for rule in verdict.rules}
    assert "SUBJ_ALL_CAPS" in names, verdict.summary
    caps = next(rule for rule in verdict.rules if rule.name == "SUBJ_ALL_CAPS")
    assert caps.description and caps.score > 0
    assert verdict.summary.startswith(f"spam score: {verdict.score:g}, rules hit: ")
    assert [r.score for r in verdict.rules] == sorted((r.score for r in verdict.rules), reverse=True)
    assert verdict.to_dict()["good"] is False


async def test_verdicts_come_back_in_the_order_of_the_messages(spamassassin):
    calm = _outgoing("Lunch on Thursday?", "Hi Dana,\n\nAre you free for lunch on Thursday?\n\nSam\n", "",
                     domain=None, tracking=False)
    loud = _outgoing("FREE!!! ACT NOW!!! LIMITED TIME", "CLICK HERE for your FREE prize!!! ACT NOW!!!\n", "",
                     domain=None, tracking=False)
    verdicts = await spam_check_many([loud, calm, loud, calm])
    assert verdicts[0].score == verdicts[2].score > verdicts[1].score == verdicts[3].score
    assert await spam_check_many([]) == []


async def test_without_spamassassin_the_check_says_it_is_unavailable(monkeypatch):
    monkeypatch.setattr(spam_score, "spamassassin_path", lambda: None)
    with pytest.raises(SpamCheckUnavailable) as raised:
        await spam_check(b"Subject: x\r\n\r\nx\r\n")
    assert raised.value.code == "SPAM_CHECK_UNAVAILABLE" and raised.value.status_code == 503


def test_report_lines_with_continued_descriptions_are_read_as_one_rule():
    report = ("\n\t* -0.0 NO_RELAYS Informational: message was not relayed via SMTP"
              "\n\t*  1.2 LONG_RULE A description that goes on"
              "\n\t*      and continues here"
              "\n\t*  0.1 T_X Short")
    rules = spam_score._parse_report(report)
    assert [(r.name, r.score) for r in rules] == [("NO_RELAYS", -0.0), ("LONG_RULE", 1.2), ("T_X", 0.1)]
    assert rules[1].description == "A description that goes on and continues here"
