"""Front-end packages from the npm registry, copied into the app's static folder.

`npm ci` (run by `python3 dev.py run|test`) installs the packages pinned in package.json into
`node_modules/`; `install_vendor_assets` copies the few files the pages load into
`static/vendor/` (gitignored), so nothing from npm is ever committed. The same function is used
by dev.py, by the app and by the tests, so there is one list of what the pages need.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Where the app serves vendor files from (`/static/vendor/<target>`).
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"

#: The repository root's node_modules, where `npm ci` puts the packages.
NODE_MODULES = Path(__file__).resolve().parents[3] / "node_modules"


@dataclass(frozen=True)
class VendorAsset:
    """One file of an npm package that the pages load."""

    package: str  # npm package name, pinned in package.json
    source: str  # path inside the package
    target: str  # file name under static/vendor/


VENDOR_ASSETS: tuple[VendorAsset, ...] = (
    VendorAsset(package="htmx.org", source="dist/htmx.min.js", target="htmx.min.js"),
    VendorAsset(package="sortablejs", source="Sortable.min.js", target="Sortable.min.js"),
    # The rich-text editor of the template editor and the composer (MIT, 37signals); the UMD
    # build carries its one dependency (DOMPurify) inside.
    VendorAsset(package="trix", source="dist/trix.umd.min.js", target="trix.umd.min.js"),
    VendorAsset(package="trix", source="dist/trix.css", target="trix.css"),
)


class VendorAssetMissing(FileNotFoundError):
    """A front-end file is not where npm should have put it."""

    def __init__(self, asset: VendorAsset, path: Path) -> None:
        self.asset = asset
        self.path = path
        super().__init__(
            f"front-end file {asset.package}/{asset.source} not found at {path}; "
            "install the front-end packages with `python3 dev.py run` (it runs `npm ci`)"
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_vendor_assets(node_modules: Path = NODE_MODULES, dest: Path = VENDOR_DIR) -> list[Path]:
    """Copy every file of VENDOR_ASSETS from `node_modules` into `dest`; return the files written.

    Idempotent: a file whose bytes already match is left untouched, so a second call returns [].
    Each file is written to a temporary name and renamed, so a running server never serves half a
    file. Raises VendorAssetMissing (naming the file and the fix) before writing anything when a
    source file is absent.
    """
    sources = []
    for asset in VENDOR_ASSETS:
        source = Path(node_modules) / asset.package / asset.source
        if not source.is_file():
            raise VendorAssetMissing(asset, source)
        sources.append((asset, source))

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for asset, source in sources:
        target = dest / asset.target
        if target.is_file() and _digest(target) == _digest(source):
            continue
        handle, temporary = tempfile.mkstemp(dir=dest, prefix=f".{asset.target}.")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(source.read_bytes())
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def missing_vendor_assets(dest: Path = VENDOR_DIR) -> list[Path]:
    """The vendor files the pages need that are not in `dest` (empty when all are there)."""
    return [Path(dest) / a.target for a in VENDOR_ASSETS if not (Path(dest) / a.target).is_file()]
