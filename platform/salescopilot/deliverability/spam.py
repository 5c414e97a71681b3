"""The content spam checker for a draft: rules with points and an explanation each, in the manner
of SpamAssassin's body rules but written for cold sales email. A score of 5 or more is likely to
land in spam; each hit says what to change. (The composer's "what tracking costs" comparison
runs SpamAssassin itself; these rules are the fast check shown while writing.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from salescopilot.mail.phrases import Phrases

#: (phrase, points). Lower case; matched on word boundaries.
SPAM_PHRASES: tuple[tuple[str, float], ...] = (
    ("100% free", 1.5), ("act now", 1.2), ("apply now", 0.8), ("as seen on", 1.0), ("buy now", 1.2),
    ("call now", 0.8), ("cash bonus", 1.5), ("click here", 1.0), ("click below", 0.8),
    ("congratulations", 0.8), ("dear friend", 1.2), ("double your", 1.5), ("earn money", 1.5),
    ("extra income", 1.5), ("free gift", 1.2), ("free trial", 0.6), ("guaranteed", 0.8),
    ("increase sales", 0.6), ("limited time", 1.0), ("lowest price", 1.0), ("make money", 1.5),
    ("million dollars", 1.5), ("no credit check", 1.5), ("no obligation", 0.8), ("no strings attached", 1.0),
    ("not spam", 1.5), ("once in a lifetime", 1.2), ("order now", 1.0), ("risk-free", 1.0),
    ("risk free", 1.0), ("special promotion", 1.0), ("this is not spam", 2.0), ("urgent", 0.8),
    ("winner", 1.0), ("you have been selected", 1.5), ("100% satisfied", 1.0), ("best price", 0.8),
    ("cheap", 0.6), ("exclusive deal", 0.8), ("get paid", 1.2), ("instant access", 1.0),
    ("miracle", 1.2), ("no catch", 1.0), ("offer expires", 1.0), ("act immediately", 1.2),
)
_PHRASES = Phrases("|".join(re.escape(p) for p, _ in sorted(SPAM_PHRASES, key=lambda x: -len(x[0]))))
_POINTS = dict(SPAM_PHRASES)
_SHORTENERS = ("bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly")
_URL = re.compile(r"https?://([^/\s\"'<>]+)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
LIKELY_SPAM = 5.0
#: Words that offer the reader a way out (an unsubscribe link or a "reply no" line).
_OPT_OUT = ("unsubscribe", "opt out", "opt-out", "not interested", "reply 'no'", 'reply "no"', "reply no",
            "stop hearing from", "no longer wish")


@dataclass(frozen=True, slots=True)
class RuleHit:
    code: str
    points: float
    explanation: str


@dataclass
class SpamReport:
    hits: list[RuleHit] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(h.points for h in self.hits), 1)

    @property
    def rating(self) -> str:
        return "likely_spam" if self.score >= LIKELY_SPAM else "borderline" if self.score >= 2.5 else "good"

    def as_json(self) -> dict:
        return {"score": self.score, "rating": self.rating, "threshold": LIKELY_SPAM,
                "rules": [{"code": h.code, "points": h.points, "explanation": h.explanation} for h in self.hits]}


class _HtmlFacts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.images = 0
        self.tiny_images = 0
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        values = {k: (v or "") for k, v in attrs}
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "img":
            self.images += 1
            if values.get("width") in ("0", "1") and values.get("height") in ("0", "1"):
                self.tiny_images += 1
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def check_draft(subject: str, text: str, html: str = "", *, has_unsubscribe: bool = False) -> SpamReport:
    """The rules that fire on a draft (subject, plain text, optional HTML). `has_unsubscribe`:
    the message will carry an unsubscribe link or header anyway (campaign sends always do)."""
    report = SpamReport()
    hit = report.hits.append
    facts = _HtmlFacts()
    if html:
        facts.feed(html)
        facts.close()
    html_text = " ".join(facts.text)
    body = text or html_text
    lowered = f"{subject}\n{body}".lower()

    found: dict[str, int] = {}
    for match in _PHRASES.finditer(lowered):
        found[match.group(0)] = found.get(match.group(0), 0) + 1
    for phrase in sorted(found):
        hit(RuleHit("SPAM_PHRASE", _POINTS[phrase], f'"{phrase}" is common in spam; say it plainly or drop it.'))

    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        hit(RuleHit("SUBJECT_ALL_CAPS", 1.5, "The subject is mostly capital letters; write it in sentence case."))
    if not subject.strip():
        hit(RuleHit("SUBJECT_EMPTY", 1.0, "The subject is empty."))
    elif len(subject) > 80:
        hit(RuleHit("SUBJECT_LONG", 0.5, "The subject is over 80 characters; most clients cut it off."))
    if "!" in subject:
        hit(RuleHit("SUBJECT_EXCLAMATION", 0.5 if subject.count("!") == 1 else 1.0,
                    "Exclamation marks in the subject look promotional."))
    words = _WORD.findall(body)
    shouting = [w for w in words if len(w) >= 4 and w.isupper()]
    if words and len(shouting) >= 3 and len(shouting) / len(words) > 0.05:
        hit(RuleHit("BODY_CAPS", 1.0, f"{len(shouting)} words in capitals ({', '.join(shouting[:3])}...): "
                                      "capitals read as shouting."))
    if body.count("!") >= 4 or "!!" in body:
        hit(RuleHit("BODY_EXCLAMATIONS", 0.7, "Many exclamation marks; one at most in a sales email."))
    if re.search(r"\${2,}|€{2,}|£{2,}", lowered) or re.search(r"\b100\s?%", lowered):
        hit(RuleHit("MONEY_SIGNS", 0.8, "Repeated money signs or \"100%\" claims look like spam offers."))

    urls = facts.links or _URL.findall(body)
    hosts = {(_URL.match(u).group(1).lower() if _URL.match(u) else "") for u in (facts.links or [])} | {
        h.lower() for h in _URL.findall(text or "")}
    if len(urls) > 3:
        hit(RuleHit("MANY_LINKS", min(2.0, 0.4 * (len(urls) - 3)),
                    f"{len(urls)} links; a first message does best with one or two."))
    shorteners = sorted(h for h in hosts if h.split(":")[0] in _SHORTENERS)
    if shorteners:
        hit(RuleHit("LINK_SHORTENER", 1.5, f"Link shorteners ({', '.join(shorteners)}) hide where a link goes "
                                           "and are widely blocked; link to your own domain."))
    if facts.images - facts.tiny_images >= 3:
        hit(RuleHit("MANY_IMAGES", 1.0, f"{facts.images - facts.tiny_images} images; plain text reads as personal."))
    if facts.images and len(_WORD.findall(html_text)) < 30:
        hit(RuleHit("IMAGE_HEAVY", 1.5, "Mostly images and little text: filters cannot read images and distrust them."))
    if facts.tiny_images:
        hit(RuleHit("TRACKING_PIXEL", 0.5, "A 1x1 tracking image; open tracking costs some deliverability."))

    if not has_unsubscribe and not any(marker in lowered for marker in _OPT_OUT):
        hit(RuleHit("NO_UNSUBSCRIBE", 1.0, "No way to unsubscribe; add a line such as \"Not interested? Reply "
                                           "'no' or unsubscribe here.\" (campaign sends add the header)."))
    if html and text:
        text_words = {w.lower() for w in _WORD.findall(text)}
        html_words = {w.lower() for w in _WORD.findall(html_text)}
        union = text_words | html_words
        if union and len(text_words & html_words) / len(union) < 0.5:
            hit(RuleHit("HTML_TEXT_MISMATCH", 1.2, "The plain-text and HTML versions say different things; "
                                                   "filters check that they match."))
    elif html and not text:
        hit(RuleHit("HTML_ONLY", 0.8, "HTML without a plain-text version."))
    count = len(words)
    if count < 15:
        hit(RuleHit("TOO_SHORT", 0.6, f"{count} words: too short to look like a real message."))
    elif count > 300:
        hit(RuleHit("TOO_LONG", 0.5 if count <= 500 else 1.0,
                    f"{count} words; cold emails of 50 to 150 words get the most replies."))
    return report
