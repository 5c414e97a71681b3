"""Checks that need no model: spelling (pyspellchecker) and grammar rules, readability, length,
a content spam score and template variable checks. They run for every tenant, with or without an
AI provider, and feed the coaching feature's measurements."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from salescopilot.mail.phrases import Phrases
from salescopilot.templates.renderer import parse, render_template, variables_in

#: pyspellchecker's bundled dictionaries.
SPELLING_LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "ru")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SKIP = re.compile(r"\{\{[^{}]*\}\}|(?i:\b(?:https?://|www\.)\S+)|\S+@\S+")
_TAGS = re.compile(r"<[^>]+>")


@functools.cache
def _spellchecker(language: str):
    from spellchecker import SpellChecker

    return SpellChecker(language=language)


def plain_text(text: str) -> str:
    """Text of an HTML body (tags removed, entities decoded); plain text unchanged."""
    if "<" in text and ">" in text:
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", text)
        text = html.unescape(_TAGS.sub("", text))
    return text


@dataclass(frozen=True, slots=True)
class Issue:
    kind: str
    start: int
    end: int
    text: str
    message: str
    suggestions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "text": self.text,
                "message": self.message, "suggestions": list(self.suggestions)}


def spelling_issues(text: str, language: str = "en") -> list[Issue]:
    """Unknown words (with suggestions). Variables, links, addresses and capitalised words
    (names, products) are left alone."""
    language = language if language in SPELLING_LANGUAGES else "en"
    checker = _spellchecker(language)
    masked = _SKIP.sub(lambda m: " " * len(m.group(0)), text)
    words = [(m.start(), m.group(0)) for m in _WORD.finditer(masked)]
    candidates = {w.lower() for _, w in words if len(w) > 2 and w[0].islower() and w.lower() == w}
    unknown = checker.unknown(candidates)
    issues = []
    for start, word in words:
        if word.lower() in unknown and word[0].islower():
            best = checker.correction(word.lower())
            suggestions = tuple(s for s in [best] if s and s != word.lower())
            issues.append(Issue("spelling", start, start + len(word), word, f"“{word}” may be misspelt.", suggestions))
    return issues


_GRAMMAR_RULES: tuple[tuple[re.Pattern[str], str, str, Any], ...] = (
    (re.compile(r"(?i)\b(\w+)\s+\1\b"), "repeated_word", "Repeated word.", lambda m: (m.group(1),)),
    (re.compile(r"\b[Aa]\s+(?=[aeiouAEIOU]\w)(?!(?:uni|use|usu|eu|one|once)\w*)(\w+)"), "article",
     "Use “an” before a vowel sound.", lambda m: ("an " + m.group(1),)),
    (re.compile(r"(?<=[.!?]\s)\s*([a-z])"), "capital", "Start a sentence with a capital letter.",
     lambda m: (m.group(1).upper(),)),
    (re.compile(r"(?<![\w.])i(?=[\s'’])"), "capital", "Write “I” in capitals.", lambda m: ("I",)),
    (re.compile(r"\s+([,.!?;:])(?!\S*\})"), "punctuation", "No space before punctuation.", lambda m: (m.group(1),)),
    (re.compile(r"[,;](?=[A-Za-z])"), "punctuation", "Add a space after punctuation.", lambda m: (m.group(0) + " ",)),
    (re.compile(r"[!?]{2,}"), "punctuation", "One exclamation or question mark is enough.", lambda m: (m.group(0)[0],)),
    (re.compile(r"(?i)\b(could|should|would|must)\s+of\b"), "grammar", "Write “have”, not “of”.",
     lambda m: (m.group(1) + " have",)),
    (re.compile(r"(?i)\balot\b"), "spelling", "Write “a lot”.", lambda m: ("a lot",)),
    (re.compile(r"(?i)\bthen\s+(?=ever\b)"), "grammar", "Write “than ever”.", lambda m: ("than ",)),
    (re.compile(r"(?i)\b(your)\s+(?=welcome\b)"), "grammar", "Write “you’re welcome”.", lambda m: ("you're ",)),
    (re.compile(r"(?i)\bits\s+(?=(?:a|been|going|not|time)\b)"), "grammar", "“it’s” (it is) is meant here.",
     lambda m: ("it's ",)),
    (re.compile(r" {2,}"), "whitespace", "Double space.", lambda m: (" ",)),
)


def grammar_issues(text: str, language: str = "en") -> list[Issue]:
    """Rule-based grammar and punctuation problems (the English rules only for English text;
    punctuation and repetition rules for every language)."""
    masked = _SKIP.sub(lambda m: "0" * len(m.group(0)), text)
    issues = []
    for pattern, kind, message, suggest in _GRAMMAR_RULES:
        if language != "en" and kind in ("article", "grammar") or language != "en" and message.startswith("Write “I”"):
            continue
        for match in pattern.finditer(masked):
            if kind == "repeated_word" and match.group(1).lower() in ("that", "had"):
                continue
            issues.append(Issue(kind, match.start(), match.end(), text[match.start():match.end()], message,
                                tuple(suggest(match))))
    for sentence, start in _sentences_with_offsets(text):
        if len(sentence.split()) > 35:
            issues.append(Issue("long_sentence", start, start + len(sentence), sentence[:60] + "…",
                                "This sentence has more than 35 words: split it.", ()))
    return sorted(issues, key=lambda i: i.start)


def _sentences_with_offsets(text: str) -> list[tuple[str, int]]:
    out = []
    for match in re.finditer(r"[^.!?\n]+[.!?]?", text):
        if match.group(0).strip():
            out.append((match.group(0), match.start()))
    return out


def _syllables(word: str) -> int:
    word = word.lower()
    groups = re.findall(r"[aeiouyäöüéèàâêîôûø]+", word)
    count = len(groups)
    if word.endswith("e") and count > 1 and not word.endswith(("le", "ee")):
        count -= 1
    return max(1, count)


def readability(text: str) -> dict[str, Any]:
    """Flesch reading ease (higher is easier; 60+ is plain English), words per sentence and the
    share of long words."""
    text = _SKIP.sub(" ", plain_text(text))
    words = _WORD.findall(text)
    sentences = max(1, len([s for s, _ in _sentences_with_offsets(text) if _WORD.search(s)]))
    if not words:
        return {"fleschReadingEase": None, "wordsPerSentence": 0, "longWordShare": 0, "level": "empty"}
    syllables = sum(_syllables(w) for w in words)
    ease = 206.835 - 1.015 * (len(words) / sentences) - 84.6 * (syllables / len(words))
    level = "easy" if ease >= 70 else "plain" if ease >= 50 else "hard"
    return {
        "fleschReadingEase": round(ease, 1),
        "wordsPerSentence": round(len(words) / sentences, 1),
        "longWordShare": round(sum(1 for w in words if _syllables(w) >= 3) / len(words), 2),
        "level": level,
    }


def length_report(subject: str, body: str) -> dict[str, Any]:
    """Words, characters and reading time, against what works for cold email (50-125 words,
    subjects of 2-8 words and under 60 characters)."""
    text = plain_text(body)
    words = len(_WORD.findall(_SKIP.sub(" x ", text)))
    verdict = "too_short" if words < 25 else "too_long" if words > 200 else "long" if words > 125 else "good"
    subject_words = len(subject.split())
    return {
        "words": words, "characters": len(text), "readingSeconds": round(words / 3.8),
        "verdict": verdict,
        "subjectCharacters": len(subject), "subjectWords": subject_words,
        "subjectVerdict": "missing" if not subject.strip() else "too_long" if len(subject) > 60 else
        "good" if subject_words <= 8 else "long",
    }


#: Content that spam filters and readers distrust, lower-cased, with the points each adds.
_SPAM_PHRASES: dict[str, int] = {
    "100% free": 3, "act now": 3, "apply now": 2, "as seen on": 2, "buy now": 3, "cash bonus": 3,
    "click here": 2, "click below": 2, "congratulations": 2, "dear friend": 2, "double your": 3,
    "earn money": 3, "extra income": 3, "free gift": 3, "free trial": 1, "guaranteed": 2,
    "increase sales": 1, "limited time": 2, "lowest price": 2, "make money": 3, "no obligation": 2,
    "no strings attached": 2, "once in a lifetime": 3, "order now": 2, "risk-free": 2, "risk free": 2,
    "special promotion": 2, "this is not spam": 4, "urgent": 2, "winner": 3, "you have been selected": 3,
    "100% satisfied": 2, "best price": 2, "cheap": 1, "deal of the day": 2, "don't delete": 3,
    "exclusive deal": 2, "incredible deal": 2, "miracle": 3, "no cost": 2, "pure profit": 3,
    "save big": 2, "unsubscribe here": 1, "what are you waiting for": 2, "while supplies last": 2,
}
_SPAM_TABLE = Phrases("|".join(re.escape(p) for p in sorted(_SPAM_PHRASES, key=len, reverse=True)))


def spam_score(subject: str, body: str) -> dict[str, Any]:
    """A content-only spam score from 0 (clean) to 10 (very likely filtered), with its reasons.
    It reads the words and formatting, not the sending reputation or authentication."""
    text = plain_text(body)
    reasons: list[dict[str, Any]] = []
    points = 0
    lowered = (subject + "\n" + text).lower()
    for match in _SPAM_TABLE.finditer(lowered):
        phrase = match.group(0)
        points += _SPAM_PHRASES.get(phrase, 1)
        reasons.append({"rule": "phrase", "detail": phrase, "points": _SPAM_PHRASES.get(phrase, 1)})
    letters = [c for c in subject + text if c.isalpha()]
    caps_words = [w for w in re.findall(r"\b[A-Z]{4,}\b", subject + " " + text)]
    if len(caps_words) >= 2:
        points += 2
        reasons.append({"rule": "capitals", "detail": ", ".join(caps_words[:5]), "points": 2})
    if subject.isupper() and len(letters) > 5:
        points += 2
        reasons.append({"rule": "subject_capitals", "detail": subject[:60], "points": 2})
    if (subject + text).count("!") >= 3:
        points += 2
        reasons.append({"rule": "exclamation", "detail": "three or more exclamation marks", "points": 2})
    if re.search(r"[$€£]\s?\d", subject + text):
        points += 1
        reasons.append({"rule": "money", "detail": "amounts of money", "points": 1})
    links = re.findall(r"(?i)https?://\S+", body)
    if len(links) > 2:
        points += len(links) - 2
        reasons.append({"rule": "links", "detail": f"{len(links)} links", "points": len(links) - 2})
    if re.search(r"(?i)https?://(?:bit\.ly|tinyurl\.com|goo\.gl|t\.co|ow\.ly)/", body):
        points += 2
        reasons.append({"rule": "shortener", "detail": "a link shortener hides the destination", "points": 2})
    if "<img" in body.lower() and len(text.split()) < 30:
        points += 2
        reasons.append({"rule": "image_heavy", "detail": "images with little text", "points": 2})
    if subject.lower().startswith(("re:", "fwd:", "fw:")):
        points += 2
        reasons.append({"rule": "fake_reply", "detail": "a first email dressed as a reply or forward", "points": 2})
    score = min(10, points)
    return {"score": score, "verdict": "low" if score <= 2 else "medium" if score <= 5 else "high",
            "reasons": reasons}


def variable_report(subject: str, body: str, known: set[str], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Invalid tags, unknown variables and (for a lead's values) variables that would render
    empty."""
    problems: list[dict[str, Any]] = []
    used: set[str] = set()
    for part, source in (("subject", subject), ("body", body)):
        nodes, errors = parse(source or "")
        for tag, message in errors:
            problems.append({"part": part, "kind": "syntax", "tag": tag, "message": message})
        names = variables_in(source or "")
        used |= names
        for name in sorted(names):
            if name not in known and not name.startswith(("custom.", "sender.")):
                problems.append({"part": part, "kind": "unknown_variable", "tag": name,
                                 "message": f"{{{{{name}}}}} is not a lead field."})
    if values is not None:
        rendered = render_template(subject, "", body, values)
        for problem in rendered.problems:
            item = problem.to_dict()
            if not any(p["tag"] == item.get("variable") and p["kind"] == item.get("kind") for p in problems):
                problems.append({"part": item.get("part"), "kind": item.get("kind"), "tag": item.get("variable"),
                                 "message": item.get("message")})
    return {"used": sorted(used), "problems": problems, "ok": not problems}


def check_draft(subject: str, body: str, *, language: str = "en", known_variables: set[str],
                values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every offline check of a draft at once."""
    text = plain_text(body)
    return {
        "spelling": [i.to_dict() for i in spelling_issues(subject + "\n" + text, language)],
        "grammar": [i.to_dict() for i in grammar_issues(subject + "\n" + text, language)],
        "readability": readability(text),
        "length": length_report(subject, body),
        "spam": spam_score(subject, body),
        "variables": variable_report(subject, body, known_variables, values),
        "language": language,
    }
