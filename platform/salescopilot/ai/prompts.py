"""Prompts, versioned in files: `prompts/<feature>.v<N>.txt`, a `### system` and a `### user`
section with `$placeholders`. The newest version of each feature is used; its name
("generate.v1") is part of every cache key and of every draft's provenance, so changing a prompt
means adding a file, never editing a shipped one."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).with_name("prompts")
_FILE = re.compile(r"^([a-z_]+)\.v(\d+)\.txt$")


@dataclass(frozen=True, slots=True)
class Prompt:
    feature: str
    version: str
    system: Template
    user: Template

    @property
    def name(self) -> str:
        return f"{self.feature}.{self.version}"

    def messages(self, **values: str) -> list[dict[str, str]]:
        rules = rules_prompt().safe_substitute(values)
        system = self.system.safe_substitute({**values, "rules": rules})
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": self.user.safe_substitute(values).strip()},
        ]


@functools.cache
def _versions() -> dict[str, tuple[int, Path]]:
    newest: dict[str, tuple[int, Path]] = {}
    for path in PROMPTS_DIR.iterdir():
        match = _FILE.match(path.name)
        if match:
            feature, number = match.group(1), int(match.group(2))
            if feature not in newest or number > newest[feature][0]:
                newest[feature] = (number, path)
    return newest


@functools.cache
def rules_prompt() -> Template:
    number, path = _versions()["rules"]
    return Template(path.read_text(encoding="utf-8"))


@functools.cache
def prompt(feature: str) -> Prompt:
    """The newest prompt of `feature` (KeyError for an unknown feature)."""
    number, path = _versions()[feature]
    text = path.read_text(encoding="utf-8")
    system, _, user = text.partition("### user")
    system = system.replace("### system", "", 1)
    rules_version = _versions()["rules"][0]
    return Prompt(feature, f"v{number}+rules.v{rules_version}", Template(system), Template(user))
