"""A third-party plugin, packaged the way plugins/README.md tells authors to, is discovered through
its entry point: built into a wheel with hatchling, installed with pip, seen by the real CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "salescopilot-acme-crm"
version = "1.2.3"
requires-python = ">=3.11"
dependencies = ["salescopilot"]

[project.entry-points."salescopilot.plugins"]
acme_crm = "salescopilot_acme_crm"
"""

MODULE = '''\
import click
from pydantic import BaseModel, SecretStr

from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import ConnectionCheck, CrmConnector


class AcmeSettings(BaseModel):
    api_key: SecretStr


class AcmeCrm(CrmConnector):
    slug = "acmecrm"
    display_name = "Acme CRM (third party)"
    settings_model = AcmeSettings

    async def upsert_contact(self, contact):
        return "1"

    async def log_activity(self, activity):
        return "1"

    async def fetch_contacts(self, cursor, *, limit=100):
        raise ConnectionError("not in this test")

    async def check_connection(self):
        return ConnectionCheck(ok=True, message="ok")


@click.command("acme-ping")
def acme_ping():
    """Say hello from the Acme plugin."""
    click.echo("pong from acme")


@hookimpl
def register_crm_connectors():
    return [AcmeCrm]


@hookimpl
def register_cli_commands():
    return [acme_ping]
'''


def _installer(target: Path, wheel: Path) -> list[str]:
    """pip when the interpreter has it (dev.py adds it to .venv), else uv; both offline here."""
    if importlib.util.find_spec("pip") is not None:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(wheel),
        ]
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("neither pip nor uv is available to install the test plugin's wheel")
    return [
        uv,
        "pip",
        "install",
        "--no-deps",
        "--offline",
        "--python",
        sys.executable,
        "--target",
        str(target),
        str(wheel),
    ]


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{argv}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> Path:
    """A directory holding the installed `salescopilot-acme-crm` distribution."""
    root = tmp_path_factory.mktemp("third_party")
    source = root / "salescopilot-acme-crm"
    (source / "salescopilot_acme_crm").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "salescopilot_acme_crm" / "__init__.py").write_text(textwrap.dedent(MODULE))
    dist = root / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(source),
        ]
    )
    [wheel] = dist.glob("salescopilot_acme_crm-1.2.3-*.whl")
    target = root / "site"
    _run(_installer(target, wheel))
    assert (target / "salescopilot_acme_crm-1.2.3.dist-info" / "entry_points.txt").is_file()
    return target


def _salescopilot(args: list[str], site: Path, cwd: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SALESCOPILOT_")}
    clean.update(PYTHONPATH=str(site), SALESCOPILOT_VAR_DIR=str(cwd / "var"), **env)
    script = Path(sys.executable).parent / "salescopilot"
    argv = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "from salescopilot.cli import main; main()"]
    )
    return _run([*argv, *args], env=clean, cwd=cwd).stdout


def test_an_installed_third_party_plugin_is_discovered_through_its_entry_point(
    installed_plugin, tmp_path
):
    listing = json.loads(_salescopilot(["plugins", "list", "--json"], installed_plugin, tmp_path))

    plugins = {plugin["name"]: plugin for plugin in listing["plugins"]}
    assert plugins["acme_crm"] == {
        "name": "acme_crm",
        "origin": "entry_point",
        "module": "salescopilot_acme_crm",
        "distribution": "salescopilot-acme-crm",
        "version": "1.2.3",
        "hooks": ["register_cli_commands", "register_crm_connectors"],
    }
    assert plugins["default_theme"]["distribution"] == "salescopilot"
    assert listing["catalogue"]["crm_connector"] == [
        {"slug": "acmecrm", "display_name": "Acme CRM (third party)", "plugin": "acme_crm"}
    ]
    # Its CLI command joins the `salescopilot` command.
    assert _salescopilot(["acme-ping"], installed_plugin, tmp_path).strip() == "pong from acme"


def test_a_blocked_third_party_plugin_is_not_loaded(installed_plugin, tmp_path):
    listing = json.loads(
        _salescopilot(
            ["plugins", "list", "--json"],
            installed_plugin,
            tmp_path,
            SALESCOPILOT_BLOCKED_PLUGINS='["acme_crm"]',
        )
    )
    assert "acme_crm" not in {plugin["name"] for plugin in listing["plugins"]}
    assert listing["blocked"] == ["acme_crm"]
    assert listing["catalogue"]["crm_connector"] == []
