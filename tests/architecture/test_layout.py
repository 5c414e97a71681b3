"""`platform/` is a plain folder: the standard library's `platform` module must keep working from
the repository root, where `platform/` sits first on the import path."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import platform, salescopilot; print(platform.system()); print(platform.__file__)"


def test_platform_is_a_plain_folder_holding_the_package():
    assert (ROOT / "platform").is_dir()
    assert not (ROOT / "platform" / "__init__.py").exists(), (
        "platform/__init__.py shadows the stdlib module"
    )
    assert (ROOT / "platform" / "salescopilot" / "__init__.py").is_file()


def test_the_standard_platform_module_works_from_the_repo_root(tmp_path):
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    script = ROOT / f".platform_probe_{os.getpid()}.py"
    script.write_text(PROBE)
    try:
        # -c puts the current directory first on sys.path; a script at the root puts the root
        # there; PYTHONPATH=. is what a careless shell set-up does.
        runs = [
            [sys.executable, "-c", PROBE],
            [sys.executable, str(script)],
        ]
        env = {**os.environ, "PYTHONPATH": "."}
        for argv in runs:
            for environment in (None, env):
                result = subprocess.run(
                    argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
                )
                assert result.returncode == 0, result.stderr
                system, module_file = result.stdout.split()
                assert system == platform.system()
                assert Path(module_file).resolve().is_relative_to(stdlib), module_file
    finally:
        script.unlink(missing_ok=True)
