"""Deliverability against a real DNS server on loopback (dnspython end to end) and a real SMTP
server: address verification, domain health, the spam checker, and the automatic pauses."""

from __future__ import annotations

import uuid

import pytest
from aiosmtpd.controller import Controller

from salescopilot.deliverability.addresses import AddressVerifier, CatchAllProbe
from salescopilot.deliverability.dns import DnsLookup
from salescopilot.deliverability.domain_health import check_domain
from salescopilot.deliverability.guard import CampaignGuard, judge
from salescopilot.deliverability.spam import check_draft
from salescopilot.tenancy.context import tenant_scope
from tests.integration.deliverability.dns_server import LocalDns


@pytest.fixture
async def zone():
    server = await LocalDns().start()
    server.add("acme.example", "MX", "10 mx1.acme.example.", "20 mx2.acme.example.")
    server.add("acme.example", "TXT", "v=spf1 include:_spf.mailhost.example -all", "google-site-verification=x")
    server.add("_dmarc.acme.example", "TXT", "v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.example")
    server.add("sc1._domainkey.acme.example", "TXT", "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    server.add("nomx.example", "A", "192.0.2.10")
    server.add("nullmx.example", "MX", "0 .")
    server.add("bare.example", "TXT", "hello")
    yield server
    server.stop()


@pytest.fixture
def dns(zone) -> DnsLookup:
    return DnsLookup(nameservers=["127.0.0.1"], port=zone.port, timeout=2.0)


async def verdict(dns, address, probe=None):
    return await AddressVerifier(dns, probe).verify(address)


async def test_addresses_are_verified_by_syntax_mx_role_and_disposable_domain(dns, zone):
    good = await verdict(dns, "Jane.Doe@ACME.example")
    assert (good.verdict, good.mx_hosts, good.reasons) == ("deliverable", ["mx1.acme.example", "mx2.acme.example"], [])
    role = await verdict(dns, "sales@acme.example")
    assert role.verdict == "risky" and role.role
    assert (await verdict(dns, "not an address")).verdict == "undeliverable"
    assert (await verdict(dns, "jane@@acme.example")).verdict == "undeliverable"
    missing = await verdict(dns, "jane@no-such-domain.example")
    assert missing.verdict == "undeliverable" and "does not exist" in missing.reasons[0]
    null = await verdict(dns, "jane@nullmx.example")
    assert null.verdict == "undeliverable" and "null MX" in null.reasons[0]
    fallback = await verdict(dns, "jane@nomx.example")
    assert fallback.verdict == "risky" and fallback.mx_hosts == ["nomx.example"]
    nothing = await verdict(dns, "jane@bare.example")
    assert nothing.verdict == "undeliverable"
    throwaway = await verdict(dns, "someone@mailinator.com")
    assert throwaway.disposable and throwaway.verdict == "undeliverable"


async def test_lookups_are_cached_and_failures_are_no_verdict(dns, zone):
    await verdict(dns, "a@acme.example")
    asked = len(zone.asked)
    await verdict(dns, "b@acme.example")
    assert len(zone.asked) == asked and dns.queries == 1
    zone.failing.add("broken.example")
    zone.add("broken.example", "MX", "10 mx.broken.example.")
    broken = await verdict(dns, "jane@broken.example")
    assert broken.verdict == "risky" and "could not be looked up" in broken.reasons[0]


class _Recipients:
    def __init__(self, accept: bool) -> None:
        self.accept = accept

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.accept:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.mark.parametrize("accepts", [True, False])
async def test_catch_all_suspicion_from_an_smtp_probe(dns, zone, accepts):
    import socket

    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = Controller(_Recipients(accepts), hostname="127.0.0.1", port=port)
    server.start()
    try:
        zone.add("catch.example", "MX", "10 127.0.0.1.")
        result = await verdict(dns, "jane@catch.example", CatchAllProbe("verifier.example", port=port, timeout=5))
        assert result.catch_all_suspected is accepts
        assert result.verdict == ("risky" if accepts else "deliverable")
    finally:
        server.stop()


async def test_domain_health_reports_what_to_fix(dns, zone):
    health = await check_domain(dns, "acme.example", dkim_selector="sc1",
                                dkim_record="v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    assert health.status == "ok", health.as_json()
    other_key = await check_domain(dns, "acme.example", dkim_selector="sc1", dkim_record="v=DKIM1; p=OTHER")
    assert {c.name: c.status for c in other_key.checks}["DKIM"] == "fail"
    bare = await check_domain(dns, "bare.example", dkim_selector="sc1")
    checks = {c.name: c for c in bare.checks}
    assert bare.status == "fail"
    assert checks["MX"].status == "fail" and checks["SPF"].status == "fail" and checks["DMARC"].status == "fail"
    assert "v=spf1" in checks["SPF"].fix and "_dmarc.bare.example" in checks["DMARC"].fix
    assert checks["DKIM"].status == "fail" and "sc1._domainkey.bare.example" in checks["DKIM"].fix


@pytest.mark.parametrize(("spf", "dmarc", "expected"), [
    (["v=spf1 +all"], "v=DMARC1; p=reject; rua=mailto:r@x.example", ("fail", "ok")),
    (["v=spf1 mx -all", "v=spf1 a -all"], "v=DMARC1; p=reject; rua=mailto:r@x.example", ("fail", "ok")),
    (["v=spf1 mx ?all"], "v=DMARC1; p=none; rua=mailto:r@x.example", ("warn", "warn")),
    (["v=spf1 " + " ".join(f"include:s{i}.example" for i in range(11)) + " -all"], "v=DMARC1; p=reject",
     ("fail", "warn")),
    (["v=spf1 include:mail.example ~all"], "v=DMARC1; rua=mailto:r@x.example", ("ok", "fail")),
])
async def test_spf_and_dmarc_rules(dns, zone, spf, dmarc, expected):
    zone.add("x.example", "MX", "10 mx.x.example.")
    zone.add("x.example", "TXT", *spf)
    zone.add("_dmarc.x.example", "TXT", dmarc)
    checks = {c.name: c.status for c in (await check_domain(dns, "x.example")).checks}
    assert (checks["SPF"], checks["DMARC"]) == expected


# -- the spam checker --------------------------------------------------------------------------------

PLAIN = ("Hi Dana,\n\nI noticed Acme is hiring three SDRs this quarter. We help teams like yours "
         "ramp new reps in half the time by pairing call recordings with short coaching notes. "
         "Would a 15-minute call next Tuesday be useful?\n\nBest,\nSam\n\nNot interested? Reply 'no' "
         "and I will not write again.")


def codes(report) -> set[str]:
    return {h.code for h in report.hits}


def test_a_plain_personal_message_scores_well():
    report = check_draft("Ramping your new SDRs", PLAIN)
    assert report.rating == "good" and report.score < 1, report.as_json()


def test_a_spammy_message_scores_badly_with_explanations():
    html = ('<p>ACT NOW!!! This is not spam. FREE GIFT for the WINNER. <a href="https://bit.ly/x">Click here</a></p>'
            '<img src="https://a.example/1.png"><img src="https://a.example/2.png"><img src="https://a.example/3.png">')
    report = check_draft("YOU HAVE BEEN SELECTED!!!", "", html)
    found = codes(report)
    assert {"SPAM_PHRASE", "SUBJECT_ALL_CAPS", "SUBJECT_EXCLAMATION", "BODY_EXCLAMATIONS", "LINK_SHORTENER",
            "MANY_IMAGES", "IMAGE_HEAVY", "NO_UNSUBSCRIBE", "HTML_ONLY", "TOO_SHORT"} <= found
    assert report.rating == "likely_spam"
    assert all(h.explanation for h in report.hits)


def test_html_and_text_that_disagree_and_lengths():
    html = "<p>" + "Completely different words about gardening tomatoes and soil" * 3 + "</p>"
    assert "HTML_TEXT_MISMATCH" in codes(check_draft("Hello", PLAIN, html))
    assert "HTML_TEXT_MISMATCH" not in codes(check_draft("Hello", PLAIN, "<p>" + PLAIN + "</p>"))
    assert "TOO_LONG" in codes(check_draft("Hello", PLAIN + " word" * 400))
    assert "NO_UNSUBSCRIBE" not in codes(check_draft("Hello", "Short note here " * 5, has_unsubscribe=True))
    pixel = '<p>' + PLAIN + '</p><img src="https://t.example/t/o/x" width="1" height="1" alt="">'
    assert "TRACKING_PIXEL" in codes(check_draft("Hello", PLAIN, pixel))
    assert "MANY_LINKS" in codes(check_draft("Hello", PLAIN + " https://a.example/1 https://a.example/2 "
                                                   "https://a.example/3 https://a.example/4 https://a.example/5"))


# -- automatic pauses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "bounced", "complaints", "expected"), [
    (10, 5, 0, None),                 # too few to judge
    (97, 3, 0, None),                 # 3 % is the limit, not past it
    (96, 4, 0, "pause"),
    (1000, 0, 1, None),               # 0.1 %
    (1000, 0, 2, "pause"),
    (1000, 0, 3, "pause"),            # 0.3 %
    (1000, 0, 4, "hard_stop"),
])
def test_thresholds(sent, bounced, complaints, expected):
    result = judge(sent, bounced, complaints)
    assert (result[0] if result else None) == expected


async def test_a_campaign_past_its_bounce_threshold_is_paused_by_the_sender(settings, db, tenant_a):
    import datetime as dt
    from collections import defaultdict

    from salescopilot.clock import FakeClock
    from salescopilot.mailboxes.providers import provider_instances
    from salescopilot.outbox.repository import OutboxRepository
    from salescopilot.plugin_system.manager import get_plugin_manager
    from tests.integration.outbox import scripted_provider
    from tests.integration.outbox.conftest import Desk

    pm = get_plugin_manager()
    pm.register(scripted_provider, name="tests.scripted_provider")
    scripted_provider.SCRIPT.outcomes = defaultdict(list)
    try:
        desk = Desk(tenant_a, settings, FakeClock(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)))
        mailbox = await desk.mailbox("rep@seller.example.com", daily_cap=None)
        campaign = uuid.uuid4()
        scripted_provider.SCRIPT.outcomes["rep@seller.example.com"] = ["5xx"] * 3  # 3 hard bounces
        for index in range(40):
            address = f"lead{index}@customer.example.com"
            await desk.enqueue(mailbox=mailbox, campaign=campaign, recipient_email=address,
                               due_at=desk.clock.now() + dt.timedelta(seconds=0 if index < 22 else 3600))
        await desk.run_pass()
        async with tenant_scope(tenant_a, write=False):
            counts = await OutboxRepository().counts_by_state()
        # 22 due: 3 bounced of 22 is 13.6 %: the 18 messages still waiting are paused.
        assert counts.get("paused") == 18, counts
        async with tenant_scope(tenant_a):
            assert await CampaignGuard().check([campaign]) == []  # nothing left to pause
    finally:
        pm.unregister(name="tests.scripted_provider")
        await provider_instances.close_all()
