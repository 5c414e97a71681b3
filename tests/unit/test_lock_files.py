"""Python lock files: every package pinned by version and sha256 hash, and no registry host.

A workplace rule keeps package registry host names out of every commit (package-lock.json
omits its `resolved` addresses for the same reason). `python3 dev.py lock` writes these files;
`python3 dev.py lock --check` (CI) proves they are current.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
LOCKS = (RUNTIME_LOCK, DEV_LOCK)

#: A host name: dotted labels ending in a common top-level domain (pyproject.toml is not one).
HOST = re.compile(
    r"(?<![\w.-])(?:[a-z0-9-]+\.)+(?:org|com|net|io|dev|app|cloud|co|sh|local|internal)\b",
    re.IGNORECASE,
)
PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?: ;[^\\]+)?")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def entries(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, hashes)}; fails on any line that is not a hashed pin."""
    # Joined continuation lines, comments (annotations, header) dropped.
    text = re.sub(r"\\\n", " ", lock.read_text())
    found: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --hash")
        pin = PIN.fullmatch(requirement.strip())
        assert pin, f"{lock.name}: not an exact `name==version` pin: {line[:120]}"
        hashes = ["--hash" + option.strip() for option in options]
        assert hashes, f"{lock.name}: {requirement} has no --hash"
        for hash_option in hashes:
            assert HASH.fullmatch(hash_option), f"{lock.name}: bad hash {hash_option[:80]}"
        name = canonicalize_name(pin["name"])
        assert name not in found, f"{lock.name}: {name} is pinned twice"
        found[name] = (pin["version"], hashes)
    return found


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_the_lock_names_no_address_and_no_host(lock):
    text = lock.read_text()

    assert "://" not in text
    assert HOST.findall(text) == []
    options = re.compile(r"^\s*(-i|-f|-e|--[a-z-]*(index|find-links|editable))", re.MULTILINE)
    assert not options.search(text)


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_package_is_pinned_exactly_with_hashes(lock):
    pinned = entries(lock)

    assert len(pinned) > 10
    assert "salescopilot" not in pinned, "the project itself is installed editable, not locked"


@pytest.mark.parametrize(
    "line",
    [
        "anyio==4.16.0",
        "anyio>=4 \\\n    --hash=sha256:" + "0" * 64,
        "anyio @ ./anyio.whl \\\n    --hash=sha256:" + "0" * 64,
        "anyio==4.16.0 \\\n    --hash=md5:" + "0" * 32,
    ],
    ids=["no hash", "range", "direct reference", "weak hash"],
)
def test_a_loose_pin_is_refused(tmp_path, line):
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"# header\n{line}\n    # via salescopilot (pyproject.toml)\n")

    with pytest.raises(AssertionError):
        entries(lock)


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_group():
    runtime, dev = entries(RUNTIME_LOCK), entries(DEV_LOCK)

    assert set(runtime) < set(dev)
    for name, pin in runtime.items():
        assert dev[name] == pin, f"{name}: the two locks must pin the same version and hashes"


def test_every_declared_dependency_is_locked_at_an_allowed_version():
    """A cheap local twin of CI's `dev.py lock --check`: pyproject.toml edits need a re-lock."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {
        RUNTIME_LOCK: project["project"]["dependencies"],
        DEV_LOCK: project["project"]["dependencies"] + project["dependency-groups"]["dev"],
    }
    for lock, requirements in declared.items():
        pinned = entries(lock)
        for requirement in map(Requirement, requirements):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{requirement} is not in {lock.name}: python3 dev.py lock"
            version = pinned[name][0]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock.name} pins {name}=={version}, outside {requirement}: python3 dev.py lock"
            )
