"""Tenants as code: `tenants/<slug>/tenant.toml`.

```toml
slug = "acme"                       # must equal the folder name
name = "Acme Corp"
status = "active"                   # or "suspended"
domains = ["sales.acme.example"]    # besides <slug>.<base domain>, which every tenant gets
postal_address = "Acme Corp, 1 Main St, Springfield"

[theme]
name = "default"                    # a theme plugin's slug
[theme.tokens]                      # any design token of the theme
product_name = "Acme Copilot"
colour_primary = "#0b5cad"

[plugins.crm_connector.hubspot]     # kind.slug of an installed plugin
enabled = true
settings = { portal_id = "123" }
secrets = { access_token = { "$env" = "ACME_HUBSPOT_TOKEN" } }   # only env references
```

Every problem is reported as `file: key: problem`, and nothing is applied unless every manifest
is valid.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from salescopilot.errors import ValidationFailed
from salescopilot.tenancy.resolution import normalise_host

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


class ThemeManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    tokens: dict[str, str] = Field(default_factory=dict)


class EnvReference(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    env: str = Field(alias="$env")

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError("must be an environment variable name (A-Z, 0-9, _)")
        return value


class PluginManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)
    #: Secrets never appear in a manifest, only references to environment variables.
    secrets: dict[str, EnvReference] = Field(default_factory=dict)


class TenantManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str
    name: str = Field(min_length=1, max_length=200)
    status: Literal["active", "suspended"] = "active"
    domains: list[str] = Field(default_factory=list, max_length=50)
    postal_address: str = Field(default="", max_length=500)
    theme: ThemeManifest = Field(default_factory=ThemeManifest)
    plugins: dict[str, dict[str, PluginManifest]] = Field(default_factory=dict)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("must be 1-63 lower-case letters, digits or hyphens")
        return value

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        result = []
        for value in values:
            host = normalise_host(value)
            if host is None or host != value.strip().lower() or "." not in host:
                raise ValueError(f"{value!r} is not a hostname")
            result.append(host)
        if len(set(result)) != len(result):
            raise ValueError("lists a domain twice")
        return result


@dataclass(frozen=True)
class LoadedManifest:
    path: Path
    manifest: TenantManifest

    def resolve_secrets(self, kind: str, slug: str) -> dict[str, str]:
        plugin = self.manifest.plugins[kind][slug]
        resolved = {}
        for name, reference in plugin.secrets.items():
            value = os.environ.get(reference.env)
            if value is None:
                raise ManifestInvalid(
                    [f"{self.path}: plugins.{kind}.{slug}.secrets.{name}: environment variable "
                     f"{reference.env} is not set"]
                )
            resolved[name] = value
        return resolved


class ManifestInvalid(ValidationFailed):
    code = "MANIFEST_INVALID"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), details={"problems": problems})
        self.problems = problems


def load_manifest(path: Path) -> LoadedManifest:
    """Parse and validate one manifest; raises ManifestInvalid naming file, key and problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestInvalid([f"{path}: cannot read: {error}"]) from error
    except tomllib.TOMLDecodeError as error:
        raise ManifestInvalid([f"{path}: not valid TOML: {error}"]) from error
    try:
        manifest = TenantManifest.model_validate(data)
    except ValidationError as error:
        problems = [
            f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in error.errors()
        ]
        raise ManifestInvalid(problems) from error
    if manifest.slug != path.parent.name:
        raise ManifestInvalid([f"{path}: slug: {manifest.slug!r} must equal the folder name {path.parent.name!r}"])
    return LoadedManifest(path=path, manifest=manifest)


def find_manifests(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        raise ManifestInvalid([f"{directory}: no such folder"])
    return sorted(directory.glob("*/tenant.toml"))


def load_all(directory: Path) -> list[LoadedManifest]:
    """Every manifest under `directory`, all validated; raises with every problem found."""
    problems: list[str] = []
    loaded: list[LoadedManifest] = []
    for path in find_manifests(directory):
        try:
            loaded.append(load_manifest(path))
        except ManifestInvalid as error:
            problems += error.problems
    seen: dict[str, Path] = {}
    for item in loaded:
        for domain in item.manifest.domains:
            if domain in seen:
                problems.append(f"{item.path}: domains: {domain!r} is also claimed by {seen[domain]}")
            seen[domain] = item.path
    if problems:
        raise ManifestInvalid(problems)
    return loaded
