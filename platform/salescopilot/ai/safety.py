"""Untrusted text in, checked text out.

Lead fields, enrichment text and inbound replies may carry instructions meant for the model
("ignore previous instructions..."). They are passed as *data*: each inside a block fenced by a
random boundary the text cannot know or forge, which the system prompt says to read and never
obey. What comes back is checked before anyone sees it: no `{{variables}}` that were not
offered, no links that were not given, no leak of the system prompt (a canary), no echo of an
instruction found in the data. Optional PII redaction replaces addresses and phone numbers with
placeholders before text leaves, and puts them back in the answer."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from salescopilot.templates.renderer import parse

_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'`)\]]+")
_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{7,}\d(?!\w)")
_TAG = re.compile(r"\{\{([^{}]*)\}\}")
#: Phrases that address the model rather than a reader: a sign of prompt injection in data.
_INSTRUCTION_CUES = re.compile(
    r"(?i)(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)?(previous|prior|above|earlier|"
    r"preceding|system|original)?\s*(instructions?|prompts?|rules|directions)"
    r"|system\s+prompt|you\s+are\s+now|new\s+instructions?|developer\s+mode|jailbreak"
    r"|(reveal|print|repeat|show)\s+(your|the)\s+(system\s+)?(prompt|instructions)"
    r"|as\s+an\s+ai\s+(language\s+)?model\s+you\s+must"
)


def new_boundary() -> str:
    return "DATA-" + secrets.token_hex(8)


def delimit(name: str, value: Any, boundary: str) -> str:
    """`value` (text, or a mapping/list shown as `key: value` lines) as a fenced data block."""
    if isinstance(value, Mapping):
        text = "\n".join(f"{k}: {_flat(v)}" for k, v in value.items() if _flat(v))
    elif isinstance(value, list | tuple):
        text = "\n".join(f"- {_flat(v)}" for v in value if _flat(v))
    else:
        text = str(value or "")
    text = text.replace(boundary, "")
    return f"<<<{boundary} {name}>>>\n{text}\n<<<END {boundary}>>>"


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={_flat(v)}" for k, v in value.items() if _flat(v))
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value if _flat(v))
    return " ".join(str(value if value is not None else "").split())[:2000]


def instruction_sentences(texts: Iterable[str]) -> list[str]:
    """The sentences of untrusted text that speak to the model (prompt-injection attempts)."""
    found = []
    for text in texts:
        for sentence in re.split(r"(?<=[.!?\n])\s+", text or ""):
            if _INSTRUCTION_CUES.search(sentence):
                found.append(sentence.strip()[:500])
    return found


def links_in(text: str) -> set[str]:
    return {_normal_link(m.group(0)) for m in _URL.finditer(text or "")}


def _normal_link(link: str) -> str:
    link = link.rstrip(".,;:!?").lower()
    link = re.sub(r"^https?://", "", link)
    return link.removeprefix("www.").rstrip("/")


def tags_in(text: str) -> set[str]:
    """Variable names used in `{{...}}` tags (values and conditions), valid or not."""
    nodes_names: set[str] = set()
    for match in _TAG.finditer(text or ""):
        inner = match.group(1).strip()
        if inner in ("else", "/if"):
            continue
        inner = inner.removeprefix("#if").strip()
        nodes_names.add(inner.split("|", 1)[0].strip())
    return nodes_names


@dataclass
class OutputRules:
    """What an answer may contain."""

    allowed_variables: set[str] = field(default_factory=set)
    #: Text whose links may appear in the answer (the brief, the draft, the lead's website...).
    given_text: list[str] = field(default_factory=list)
    canary: str = ""
    #: Instruction-like sentences found in the data.
    injected: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "detail": self.detail}


def check_output(texts: Iterable[str], rules: OutputRules) -> list[Violation]:
    """Every way the answer's texts break `rules` (empty when it is fine)."""
    texts = [t for t in texts if t]
    given_links: set[str] = set()
    for text in rules.given_text:
        given_links |= links_in(text)
    # A link that only an instruction in the data offers is never "given".
    injected_links: set[str] = set()
    for sentence in rules.injected:
        injected_links |= links_in(sentence)
    violations: list[Violation] = []
    for text in texts:
        for name in sorted(tags_in(text)):
            if name not in rules.allowed_variables:
                violations.append(Violation("invented_variable", "{{" + name + "}}"))
        if parse(text)[1]:
            violations.append(Violation("invalid_tag", parse(text)[1][0][0]))
        for link in sorted(links_in(text)):
            if not any(link == given or link.startswith(given + "/") for given in given_links) or any(
                link == bad or link.startswith(bad + "/") or bad.startswith(link) for bad in injected_links
            ):
                violations.append(Violation("unknown_link", link))
        if rules.canary and rules.canary in text:
            violations.append(Violation("prompt_leak", "the answer repeats the system prompt"))
        lowered = " ".join(text.lower().split())
        if _INSTRUCTION_CUES.search(text):
            violations.append(Violation("instruction_followed", "the answer speaks of instructions"))
        for sentence in rules.injected:
            for chunk in _chunks(sentence.lower(), 6):
                if chunk in lowered:
                    violations.append(Violation("instruction_followed", sentence[:120]))
                    break
    return violations


def _chunks(sentence: str, words: int) -> list[str]:
    parts = sentence.split()
    if len(parts) < words:
        return []
    return [" ".join(parts[i : i + words]) for i in range(len(parts) - words + 1)]


@dataclass
class Redactor:
    """Replaces email addresses and phone numbers with numbered placeholders and restores them."""

    enabled: bool = False
    mapping: dict[str, str] = field(default_factory=dict)

    def redact(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        text = _EMAIL.sub(lambda m: self._placeholder("EMAIL", m.group(0)), text)
        return _PHONE.sub(lambda m: self._placeholder("PHONE", m.group(0)), text)

    def redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value

    def restore(self, text: str) -> str:
        if not self.mapping or not text:
            return text
        for placeholder, original in self.mapping.items():
            text = text.replace(placeholder, original)
        return text

    def restore_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.restore(value)
        if isinstance(value, Mapping):
            return {k: self.restore_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore_value(v) for v in value]
        return value

    def _placeholder(self, kind: str, original: str) -> str:
        for placeholder, known in self.mapping.items():
            if known == original:
                return placeholder
        number = sum(1 for known in self.mapping if known.startswith(f"[{kind}_")) + 1
        placeholder = f"[{kind}_{number}]"
        self.mapping[placeholder] = original
        return placeholder
