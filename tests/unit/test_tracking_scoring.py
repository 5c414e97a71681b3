"""Human or machine: the scorer on a table of user agents, addresses, methods and timings."""

from __future__ import annotations

import datetime as dt

import pytest

from salescopilot.tracking.scoring import Hit, mark_link_sweeps, score

SENT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
LATER = SENT + dt.timedelta(hours=3)
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE_MAIL = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Mobile/15E148")
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"
HOME_IP = "198.51.100.23"

TABLE = [
    # kind, user agent, ip, method, seconds after delivery, machine, reason
    ("open", CHROME, HOME_IP, "GET", 3 * 3600, False, "human"),
    ("open", IPHONE_MAIL, "2001:db8::1", "GET", 600, False, "human"),
    ("open", OUTLOOK_DESKTOP, HOME_IP, "GET", 900, False, "human"),
    ("click", CHROME, HOME_IP, "GET", 120, False, "human"),
    # Apple Mail Privacy Protection: a bare agent, or Apple's own network.
    ("open", "Mozilla/5.0", "104.28.40.9", "GET", 40, True, "apple_mpp"),
    ("open", IPHONE_MAIL, "17.58.101.7", "GET", 3600, True, "apple_mpp"),
    # Image proxies.
    ("open", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     "66.249.84.10", "GET", 3600, True, "gmail_image_proxy"),
    ("open", CHROME, "66.102.8.20", "GET", 3600, True, "gmail_image_proxy"),
    ("open", "Mozilla/5.0 OutlookImageProxy", "52.96.1.1", "GET", 3600, True, "outlook_image_proxy"),
    ("open", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", HOME_IP, "GET",
     3600, True, "yahoo_image_proxy"),
    # Link scanners, by agent and by network.
    ("click", CHROME, "40.93.31.2", "GET", 3600, True, "link_scanner:microsoft_safe_links"),
    ("click", CHROME, "104.47.18.10", "GET", 3600, True, "link_scanner:microsoft_safe_links"),
    ("click", "Mimecast URL Protect", HOME_IP, "GET", 3600, True, "link_scanner:mimecast"),
    ("click", CHROME, "205.139.110.60", "GET", 3600, True, "link_scanner:mimecast"),
    ("click", CHROME, "148.163.150.2", "GET", 3600, True, "link_scanner:proofpoint"),
    ("click", "Proofpoint URL Defense", HOME_IP, "GET", 3600, True, "link_scanner:proofpoint"),
    ("click", CHROME, "64.235.150.1", "GET", 3600, True, "link_scanner:barracuda"),
    ("click", "Barracuda Sentinel (EE)", HOME_IP, "GET", 3600, True, "link_scanner:barracuda"),
    # Bots and tools.
    ("click", "python-requests/2.31.0", HOME_IP, "GET", 3600, True, "bot_user_agent"),
    ("click", "curl/8.5.0", HOME_IP, "GET", 3600, True, "bot_user_agent"),
    ("open", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", HOME_IP, "GET",
     3600, True, "bot_user_agent"),
    ("click", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", HOME_IP, "GET", 3600, True,
     "bot_user_agent"),
    ("click", CHROME.replace("Chrome/", "HeadlessChrome/"), HOME_IP, "GET", 3600, True, "bot_user_agent"),
    ("open", "", HOME_IP, "GET", 3600, True, "no_user_agent"),
    # HEAD requests, whatever the agent.
    ("click", CHROME, HOME_IP, "HEAD", 3600, True, "head_request"),
    ("open", CHROME, HOME_IP, "head", 3600, True, "head_request"),
    # Timing: too soon after delivery for a person.
    ("click", CHROME, HOME_IP, "GET", 3, True, "too_soon_after_delivery"),
    ("click", CHROME, HOME_IP, "GET", 9, True, "too_soon_after_delivery"),
    ("click", CHROME, HOME_IP, "GET", 11, False, "human"),
    ("open", CHROME, HOME_IP, "GET", 1, True, "too_soon_after_delivery"),
    ("open", CHROME, HOME_IP, "GET", 5, False, "human"),
    # A malformed address is no evidence either way.
    ("open", CHROME, "not-an-ip", "GET", 3600, False, "human"),
]


@pytest.mark.parametrize(("kind", "agent", "ip", "method", "after", "machine", "reason"), TABLE)
def test_each_hit_is_scored_with_its_reason(kind, agent, ip, method, after, machine, reason):
    verdict = score(Hit(kind=kind, user_agent=agent, ip=ip, method=method,
                        occurred_at=SENT + dt.timedelta(seconds=after), sent_at=SENT))
    assert (verdict.machine, verdict.reason) == (machine, reason)


def test_an_unknown_delivery_time_is_no_timing_evidence():
    verdict = score(Hit(kind="click", user_agent=CHROME, ip=HOME_IP, method="GET", occurred_at=SENT))
    assert not verdict.machine


def at(seconds: float) -> dt.datetime:
    return LATER + dt.timedelta(seconds=seconds)


def test_every_link_clicked_at_once_is_a_sweep():
    clicks = [(at(0.0), 0), (at(0.4), 1), (at(0.9), 2), (at(1.1), 3)]
    assert mark_link_sweeps(clicks) == {0, 1, 2, 3}


def test_a_person_clicking_two_links_or_one_link_twice_is_no_sweep():
    assert mark_link_sweeps([(at(0), 0), (at(2), 1)]) == set()
    assert mark_link_sweeps([(at(0), 0), (at(1), 0), (at(2), 0)]) == set()


def test_links_clicked_minutes_apart_are_no_sweep():
    assert mark_link_sweeps([(at(0), 0), (at(60), 1), (at(120), 2)]) == set()


def test_only_the_clicks_inside_the_burst_are_marked():
    clicks = [(at(-300), 0), (at(0), 0), (at(1), 1), (at(2), 2), (at(400), 1)]
    assert mark_link_sweeps(clicks) == {1, 2, 3}


def _sweeps_by_definition(clicks):
    """Every time-ordered window no longer than ALL_LINKS_WINDOW with ALL_LINKS_COUNT distinct links."""
    from salescopilot.tracking.scoring import ALL_LINKS_COUNT, ALL_LINKS_WINDOW

    order = sorted(range(len(clicks)), key=lambda i: clicks[i][0])
    swept = set()
    for end in range(len(order)):
        window = [i for i in order[: end + 1] if clicks[order[end]][0] - clicks[i][0] <= ALL_LINKS_WINDOW]
        if len({clicks[i][1] for i in window}) >= ALL_LINKS_COUNT:
            swept.update(window)
    return swept


def test_the_sliding_window_marks_exactly_what_the_definition_says():
    import random

    rng = random.Random(6)
    for _ in range(300):
        clicks = [(at(rng.uniform(0, 30)), rng.randrange(4)) for _ in range(rng.randrange(1, 40))]
        assert mark_link_sweeps(clicks) == _sweeps_by_definition(clicks), clicks
    # One link fetched thousands of times within the window, then a burst over three links.
    clicks = [(at(i / 1000), 0) for i in range(3000)] + [(at(3.1), 1), (at(3.2), 2)]
    assert mark_link_sweeps(clicks) == _sweeps_by_definition(clicks)
