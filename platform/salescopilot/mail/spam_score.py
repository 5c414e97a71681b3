"""How a spam filter scores a message: SpamAssassin 4 run locally on the complete message bytes.

`spam_check(message)` pipes the message through `spamassassin --test-mode` with local tests only
(`-L`: no DNS blocklists, Razor, Pyzor or DCC), Bayes off (no learned state, so the same message
scores the same everywhere) and no per-user state, and returns the score and every rule hit with
its points and description. `spam_check_many` checks several messages in one SpamAssassin run (its
start-up, about a second of CPU to compile the rules, dominates the cost of one check).

Give it what a recipient's server would see: the message as the outbox builds it, with the
headers, footer, unsubscribe links and tracking the product adds (`outbox.building`), not the
bare template. The composer, the template editor and the deliverability checker all show the
verdict through `SpamVerdict.summary`.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salescopilot.errors import DomainError

#: What the product aims for: well under SpamAssassin's default spam threshold of 5.0.
GOOD_SCORE = 2.0
#: Whole run, whatever the number of messages: SpamAssassin takes about a second per run plus
#: milliseconds per message; a busy machine may be ten times slower.
DEFAULT_TIMEOUT = 120.0
#: A message larger than this is not checked (SpamAssassin itself skips bodies over 500 KB).
MAX_MESSAGE_BYTES = 2_000_000
#: Header carrying a message's position through the run (SpamAssassin may reorder an mbox).
_INDEX_HEADER = "X-Salescopilot-Spam-Check"
_OPTIONS = (
    "use_bayes 0",
    "bayes_auto_learn 0",
    "dns_available no",
    "report_safe 0",
    "clear_report_template",
    "add_header all Report _REPORT_",
)
_STATUS_SCORE = re.compile(r"score=(-?\d+(?:\.\d+)?)\s+required=(-?\d+(?:\.\d+)?)")
_REPORT_LINE = re.compile(r"^\*\s+(-?\d+\.\d+)\s+([A-Za-z0-9_]+)\b\s*(.*)$")


class SpamCheckUnavailable(DomainError):
    code = "SPAM_CHECK_UNAVAILABLE"
    status_code = 503
    default_message = "The spam check is not available: SpamAssassin is not installed on the server."


class SpamCheckFailed(DomainError):
    code = "SPAM_CHECK_FAILED"
    status_code = 502
    default_message = "The spam check did not finish."


@dataclass(frozen=True, slots=True)
class SpamRule:
    """One SpamAssassin rule the message hit."""

    name: str
    score: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": self.score, "description": self.description}


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    """SpamAssassin's score of one message and the rules behind it (highest points first)."""

    score: float
    #: SpamAssassin's own threshold (5.0 by default): above it the message is spam.
    required: float
    rules: tuple[SpamRule, ...]

    @property
    def good(self) -> bool:
        """Scores no more than the product's goal (`GOOD_SCORE`)."""
        return self.score <= GOOD_SCORE

    @property
    def summary(self) -> str:
        """"spam score: 1.2, rules hit: HTML_MESSAGE (0.0), ..." (the rules that cost points first)."""
        hits = ", ".join(f"{r.name} ({r.score:g})" for r in self.rules) or "none"
        return f"spam score: {self.score:g}, rules hit: {hits}"

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "required": self.required, "good": self.good,
                "goal": GOOD_SCORE, "summary": self.summary, "rules": [r.to_dict() for r in self.rules]}


def spamassassin_path() -> str | None:
    """The `spamassassin` program on this machine, or None (Debian package `spamassassin`)."""
    return shutil.which("spamassassin")


async def spam_check(message: bytes, *, timeout: float = DEFAULT_TIMEOUT) -> SpamVerdict:
    """SpamAssassin's verdict on one complete RFC 5322 message. Raises `SpamCheckUnavailable`
    without SpamAssassin, `SpamCheckFailed` when it fails or passes `timeout` seconds."""
    return (await spam_check_many([message], timeout=timeout))[0]


async def spam_check_many(messages: Sequence[bytes], *, timeout: float = DEFAULT_TIMEOUT) -> list[SpamVerdict]:
    """The verdicts on several messages, in their order, from one SpamAssassin run."""
    if not messages:
        return []
    program = spamassassin_path()
    if program is None:
        raise SpamCheckUnavailable()
    for message in messages:
        if len(message) > MAX_MESSAGE_BYTES:
            raise SpamCheckFailed("The message is too large to check.", details={"bytes": len(message)})
    mbox = b"".join(_mbox_entry(index, message) for index, message in enumerate(messages))
    with tempfile.TemporaryDirectory(prefix="spamcheck-") as home:
        prefs = Path(home) / "user_prefs"
        prefs.write_text("")
        arguments = [program, "--test-mode", "--local", "--nocreate-prefs", "--mbox",
                     f"--prefspath={prefs}"]
        for option in _OPTIONS:
            arguments.append(f"--cf={option}")
        # Its own HOME: no user state is read or written (auto-whitelist, Bayes, prefs).
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8"}
        process = await asyncio.create_subprocess_exec(
            *arguments, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=environment,
        )
        try:
            output, errors = await asyncio.wait_for(process.communicate(mbox), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise SpamCheckFailed(f"SpamAssassin took more than {timeout:g} seconds.") from None
    if process.returncode != 0:
        raise SpamCheckFailed(details={"exit": process.returncode, "stderr": errors.decode(errors="replace")[-500:]})
    verdicts = _parse_run(output)
    missing = [i for i in range(len(messages)) if i not in verdicts]
    if missing:
        raise SpamCheckFailed("SpamAssassin did not report on every message.",
                              details={"missing": missing, "stderr": errors.decode(errors="replace")[-500:]})
    return [verdicts[i] for i in range(len(messages))]


def _mbox_entry(index: int, message: bytes) -> bytes:
    """The message as one mboxrd entry, marked with its position."""
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    escaped = [re.sub(rb"^(>*From )", rb">\1", line) for line in lines]
    body = b"\n".join(escaped).rstrip(b"\n")
    return (b"From spam-check@localhost Thu Jan  1 00:00:00 1970\n"
            + f"{_INDEX_HEADER}: {index}\n".encode() + body + b"\n\n")


def _parse_run(output: bytes) -> dict[int, SpamVerdict]:
    verdicts: dict[int, SpamVerdict] = {}
    entries = re.split(rb"(?m)^From [^\n]*\n", output)
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    for entry in entries:
        if not entry.strip():
            continue
        headers = parser.parsebytes(entry)
        index, status = headers.get(_INDEX_HEADER), headers.get("X-Spam-Status")
        if index is None or status is None:
            continue
        found = _STATUS_SCORE.search(" ".join(str(status).split()))
        if found is None:
            continue
        rules = _parse_report(str(headers.get("X-Spam-Report", "")))
        verdicts[int(str(index).strip())] = SpamVerdict(
            score=float(found.group(1)), required=float(found.group(2)),
            rules=tuple(sorted(rules, key=lambda r: (-r.score, r.name))),
        )
    return verdicts


def _parse_report(report: str) -> list[SpamRule]:
    """The rules of an X-Spam-Report header ("* 0.5 SUBJ_ALL_CAPS Subject is all capitals",
    long descriptions continued on lines of their own)."""
    rules: list[SpamRule] = []
    for raw in report.splitlines():
        line = raw.strip()
        if not line.startswith("*"):
            continue
        if match := _REPORT_LINE.match(line):
            rules.append(SpamRule(match.group(2), float(match.group(1)), match.group(3).strip()))
        elif rules:
            last = rules[-1]
            more = line.lstrip("* ").strip()
            rules[-1] = SpamRule(last.name, last.score, f"{last.description} {more}".strip())
    return rules
