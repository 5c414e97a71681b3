"""The spam score shown while writing: the content rendered for a lead, built as the outbox would
send it from the chosen mailbox, scored by SpamAssassin (fails under CI without it)."""

from __future__ import annotations

from salescopilot.mail import spam_score
from tests.integration.mail.test_spam_score import spamassassin  # noqa: F401 - the fixture
from tests.integration.web.web_support import assert_error

BODY = {"subject": "Quick question, {{firstName|there}}",
        "html": "<p>Hi {{firstName|there}},</p><p>Is reply rate something {{company|your team}} is working on?</p>"}


async def test_the_spam_score_of_the_email_being_written(desk, spamassassin):  # noqa: F811
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana", company="Northwind")
    plain = await desk.client.post("/api/v1/composer/spam-check", headers=desk.owner.headers,
                                   json={**BODY, "leadId": ana, "mailboxId": desk.mailbox})
    assert plain.status_code == 200, plain.text
    verdict = plain.json()["data"]
    assert verdict["good"] is True and verdict["score"] <= 2.0 and verdict["goal"] == 2.0
    assert verdict["summary"].startswith(f"spam score: {verdict['score']:g}, rules hit: ")
    tracked = await desk.client.post("/api/v1/composer/spam-check", headers=desk.owner.headers,
                                     json={**BODY, "leadId": ana, "mailboxId": desk.mailbox, "track": True})
    names = {rule["name"] for rule in tracked.json()["data"]["rules"]}
    assert "T_REMOTE_IMAGE" in names or any(n.startswith("HTML_IMAGE_ONLY") for n in names), names
    loud = await desk.client.post("/api/v1/composer/spam-check", headers=desk.owner.headers,
                                  json={"subject": "FREE!!! ACT NOW!!! 100% GUARANTEED", "text": "CLICK HERE!!! FREE MONEY!!!"})
    assert loud.json()["data"]["score"] > verdict["score"]
    assert_error(await desk.client.post("/api/v1/composer/spam-check", headers=desk.owner.headers, json={}),
                 400, "VALIDATION_ERROR")


async def test_without_spamassassin_the_answer_says_so(desk, monkeypatch):
    monkeypatch.setattr(spam_score, "spamassassin_path", lambda: None)
    response = await desk.client.post("/api/v1/composer/spam-check", headers=desk.owner.headers, json=BODY)
    assert_error(response, 503, "SPAM_CHECK_UNAVAILABLE")
