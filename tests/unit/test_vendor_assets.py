"""Front-end packages: pinned in package.json/package-lock.json, copied by install_vendor_assets."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from salescopilot.web.assets import (
    VENDOR_ASSETS,
    VendorAssetMissing,
    install_vendor_assets,
    missing_vendor_assets,
)

ROOT = Path(__file__).resolve().parents[2]


def fake_node_modules(root: Path, content: bytes = b"/* htmx */") -> Path:
    for asset in VENDOR_ASSETS:
        source = root / asset.package / asset.source
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(content)
    return root


def test_copies_every_asset_and_a_second_call_writes_nothing(tmp_path):
    node_modules = fake_node_modules(tmp_path / "node_modules")
    dest = tmp_path / "vendor"

    written = install_vendor_assets(node_modules, dest)

    assert sorted(p.name for p in written) == sorted(a.target for a in VENDOR_ASSETS)
    assert missing_vendor_assets(dest) == []
    for asset in VENDOR_ASSETS:
        assert (dest / asset.target).read_bytes() == b"/* htmx */"
    mtimes = {p: p.stat().st_mtime_ns for p in dest.iterdir()}

    assert install_vendor_assets(node_modules, dest) == []
    assert {p: p.stat().st_mtime_ns for p in dest.iterdir()} == mtimes
    assert not [p for p in dest.iterdir() if p.name.startswith(".")], "no temp files left"


def test_a_changed_package_file_is_copied_again(tmp_path):
    dest = tmp_path / "vendor"
    install_vendor_assets(fake_node_modules(tmp_path / "nm", b"old"), dest)

    written = install_vendor_assets(fake_node_modules(tmp_path / "nm", b"new"), dest)

    assert len(written) == len(VENDOR_ASSETS)
    assert all(path.read_bytes() == b"new" for path in written)


def test_a_missing_package_names_the_file_and_the_fix_and_writes_nothing(tmp_path):
    dest = tmp_path / "vendor"

    with pytest.raises(VendorAssetMissing) as raised:
        install_vendor_assets(tmp_path / "empty", dest)

    message = str(raised.value)
    assert VENDOR_ASSETS[0].source in message and "python3 dev.py run" in message
    assert not dest.exists()
    assert missing_vendor_assets(dest) == [dest / a.target for a in VENDOR_ASSETS]


def test_front_end_packages_are_pinned_and_locked():
    manifest = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    dependencies = manifest["dependencies"]

    assert manifest["private"] is True
    needed = {a.package for a in VENDOR_ASSETS} | {"axe-core"}  # axe-core: browser tests
    assert needed <= set(dependencies)
    for name, version in dependencies.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned exactly"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
        assert "resolved" not in lock["packages"][f"node_modules/{name}"], "no registry hosts"


def test_the_installed_packages_provide_the_files(tmp_path):
    """After `python3 dev.py test` the real packages are in node_modules/."""
    node_modules = ROOT / "node_modules"
    if not (node_modules / ".salescopilot-installed").is_file():
        message = "front-end packages not installed; `python3 dev.py test` installs them"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    assert (node_modules / "axe-core" / "axe.min.js").is_file()
    written = install_vendor_assets(node_modules, tmp_path / "vendor")
    assert b"htmx" in written[0].read_bytes()[:2000]
