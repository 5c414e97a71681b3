"""Fast case-insensitive search for tables of phrases (the classifier's multilingual cues and the
SMTP diagnostic words)."""

from __future__ import annotations

import re
from collections.abc import Iterator


class Phrases:
    """A case-insensitive search for any of many phrases, cheap enough for every message.

    Python's regex engine tries every alternative at every position when a pattern ignores case
    or starts with an assertion such as \\b (about 1 µs per character for the cue tables); when
    the pattern is case-sensitive and each alternative starts with a literal, it jumps to the
    positions that can start one, ten times faster. So the tables are written in lower case
    without a leading \\b, searched in lowercased text, and the word boundary before a match is
    checked here.
    """

    __slots__ = ("_regex",)

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._regex = re.compile(pattern, flags)

    def search(self, lowered: str) -> re.Match[str] | None:
        return next(self.finditer(lowered), None)

    def finditer(self, lowered: str) -> Iterator[re.Match[str]]:
        for match in self._regex.finditer(lowered):
            start = match.start()
            if start == 0 or not (lowered[start - 1].isalnum() or lowered[start - 1] == "_"):
                yield match
