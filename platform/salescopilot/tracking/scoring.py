"""Human or machine: the honest reading of one open or click.

Image proxies and link scanners fetch tracking URLs without a person looking: Apple Mail Privacy
Protection loads every image of every message on delivery, Gmail and Outlook fetch images through
their proxies, and corporate gateways (Microsoft Safe Links, Mimecast, Proofpoint, Barracuda, ...)
follow every link before the recipient sees the message. Each rule below names one of them; the
first that matches gives the verdict and its reason. The lists are heuristics written here from
the operators' published behaviour, not a vendor database: they err towards "machine", since a
false open is worse for a sales team than a missed one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from functools import lru_cache

#: A click this soon after delivery is a scanner: no person reads, decides and clicks so fast.
CLICK_TOO_SOON = dt.timedelta(seconds=10)
#: An open this soon after delivery is a prefetch (the gateway or the client's background fetch).
OPEN_TOO_SOON = dt.timedelta(seconds=2)
#: Distinct links of one message clicked within this span: a scanner following every link.
ALL_LINKS_WINDOW = dt.timedelta(seconds=5)
ALL_LINKS_COUNT = 3

#: User-agent fragments (lower case) of image proxies, for opens.
_IMAGE_PROXIES: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "gmail_image_proxy"),
    ("ggpht.com", "gmail_image_proxy"),
    ("outlookimageproxy", "outlook_image_proxy"),
    ("ms-office; ms-outlook-image-proxy", "outlook_image_proxy"),
    ("yahoomailproxy", "yahoo_image_proxy"),
)

#: User-agent fragments of link scanners and security gateways.
_SCANNER_AGENTS: tuple[tuple[str, str], ...] = (
    ("safelinks", "link_scanner:microsoft_safe_links"),
    ("microsoft office protocol discovery", "link_scanner:microsoft_safe_links"),
    ("mimecast", "link_scanner:mimecast"),
    ("proofpoint", "link_scanner:proofpoint"),
    ("barracuda", "link_scanner:barracuda"),
    ("forcepoint", "link_scanner:forcepoint"),
    ("trendmicro", "link_scanner:trend_micro"),
    ("symantec", "link_scanner:symantec"),
    ("cisco ironport", "link_scanner:cisco"),
)

#: Fragments of automated clients and crawlers.
_BOT_AGENTS = (
    "bot", "crawler", "spider", "slurp", "python-requests", "python-urllib", "aiohttp", "httpx",
    "curl/", "wget/", "go-http-client", "java/", "okhttp", "apache-httpclient", "libwww",
    "headlesschrome", "phantomjs", "scrapy", "axios/", "node-fetch", "preview", "facebookexternalhit",
    "whatsapp", "skypeuripreview", "linkexpanding",
)

#: Published or widely observed egress ranges of the same operators, for requests whose user
#: agent pretends to be a browser.
_NETWORKS: tuple[tuple[str, str], ...] = (
    ("17.0.0.0/8", "apple_mpp"),
    ("40.92.0.0/15", "link_scanner:microsoft_safe_links"),
    ("40.107.0.0/16", "link_scanner:microsoft_safe_links"),
    ("52.100.0.0/14", "link_scanner:microsoft_safe_links"),
    ("104.47.0.0/17", "link_scanner:microsoft_safe_links"),
    ("205.139.110.0/24", "link_scanner:mimecast"),
    ("207.211.30.0/24", "link_scanner:mimecast"),
    ("91.220.42.0/24", "link_scanner:mimecast"),
    ("148.163.128.0/19", "link_scanner:proofpoint"),
    ("67.231.144.0/20", "link_scanner:proofpoint"),
    ("64.235.144.0/20", "link_scanner:barracuda"),
    ("209.222.80.0/21", "link_scanner:barracuda"),
    ("66.249.80.0/20", "gmail_image_proxy"),
    ("66.102.0.0/20", "gmail_image_proxy"),
)
_PARSED_NETWORKS = tuple((ipaddress.ip_network(n), reason) for n, reason in _NETWORKS)


@dataclass(frozen=True, slots=True)
class Verdict:
    machine: bool
    reason: str


HUMAN = Verdict(False, "human")


@dataclass(frozen=True, slots=True)
class Hit:
    """One request for a tracking URL, as the scorer sees it."""

    kind: str  # "open" or "click"
    user_agent: str
    ip: str
    method: str
    occurred_at: dt.datetime
    #: When the message was handed to the mail server (None: unknown).
    sent_at: dt.datetime | None = None


def score(hit: Hit) -> Verdict:
    """The verdict on one hit, from its own request alone (see `mark_link_sweeps` for the
    rule that needs the message's other clicks)."""
    if hit.method.upper() == "HEAD":
        return Verdict(True, "head_request")
    agent = (hit.user_agent or "").strip().lower()
    if not agent:
        return Verdict(True, "no_user_agent")
    network = _network_reason(hit.ip)
    if hit.kind == "open":
        # MPP fetches with a bare "Mozilla/5.0" and nothing else.
        if agent == "mozilla/5.0":
            return Verdict(True, "apple_mpp")
        for fragment, reason in _IMAGE_PROXIES:
            if fragment in agent:
                return Verdict(True, reason)
    for fragment, reason in _SCANNER_AGENTS:
        if fragment in agent:
            return Verdict(True, reason)
    for fragment in _BOT_AGENTS:
        if fragment in agent:
            return Verdict(True, "bot_user_agent")
    if network is not None:
        return Verdict(True, network)
    if hit.sent_at is not None:
        elapsed = hit.occurred_at - hit.sent_at
        if hit.kind == "click" and elapsed < CLICK_TOO_SOON:
            return Verdict(True, "too_soon_after_delivery")
        if hit.kind == "open" and elapsed < OPEN_TOO_SOON:
            return Verdict(True, "too_soon_after_delivery")
    return HUMAN


@lru_cache(maxsize=4096)
def _network_reason(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for network, reason in _PARSED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    return None


def mark_link_sweeps(clicks: list[tuple[dt.datetime, int]]) -> set[int]:
    """Positions in `clicks` ((time, link index) of one message, any order) that belong to a
    sweep: `ALL_LINKS_COUNT` or more distinct links clicked within `ALL_LINKS_WINDOW`."""
    # One pass of a sliding window over the clicks in time order, counting the window's clicks
    # per link: linear after the sort, however many clicks of one link the window holds (a link
    # fetched over and over must not make every batch quadratic).
    order = sorted(range(len(clicks)), key=lambda i: clicks[i][0])
    swept: set[int] = set()
    per_link: dict[int, int] = {}
    start = 0
    marked = 0  # order[:marked] are in `swept` already
    for end in range(len(order)):
        link = clicks[order[end]][1]
        per_link[link] = per_link.get(link, 0) + 1
        while clicks[order[end]][0] - clicks[order[start]][0] > ALL_LINKS_WINDOW:
            leaving = clicks[order[start]][1]
            per_link[leaving] -= 1
            if not per_link[leaving]:
                del per_link[leaving]
            start += 1
        if len(per_link) >= ALL_LINKS_COUNT:
            swept.update(order[max(start, marked) : end + 1])
            marked = end + 1
    return swept
