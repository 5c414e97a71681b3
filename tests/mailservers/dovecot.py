"""`Dovecot`: a private IMAP server per DESIGN.md section 8."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.mailservers.certificates import TestCertificates
from tests.mailservers.ports import LOOPBACK, free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


class DovecotUnavailable(Exception):
    """Dovecot is not installed or did not start (the caller decides: fail under CI, skip)."""


class Dovecot:
    """A private Dovecot IMAP server (DESIGN.md section 8): its own config, state and logs in a
    temp dir, loopback on a free port, passwd-file users with maildirs, plaintext only on
    loopback. Mail processes run as the current user, or as `nobody` when that is root."""

    def __init__(self, root: Path | None = None, *, certificates: TestCertificates | None = None) -> None:
        if not (Path(DOVECOT).exists() and Path(DOVEADM).exists()):
            raise DovecotUnavailable("dovecot is not installed (Debian package dovecot-imapd)")
        self.root = root or Path(tempfile.mkdtemp(prefix="sc-dovecot-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.host = LOOPBACK
        self.port = free_port()
        #: With `certificates`: STARTTLS on `port` and implicit TLS on `tls_port`.
        self.certificates = certificates
        self.tls_port = free_port() if certificates else 0
        self.config = self.root / "dovecot.conf"
        self.users_dir = self.root / "users"
        if os.geteuid() == 0:
            account = pwd.getpwnam("nobody")
        else:
            account = pwd.getpwuid(os.geteuid())
        self.uid, self.gid = account.pw_uid, account.pw_gid
        self._started = False

    def _write_config(self) -> None:
        for name in ("run", "state", "home", "users"):
            (self.root / name).mkdir(exist_ok=True)
        own = pwd.getpwuid(os.geteuid()).pw_name
        root_only = os.geteuid() == 0
        self.config.write_text(f"""\
protocols = imap
listen = {LOOPBACK}
base_dir = {self.root / 'run'}
state_dir = {self.root / 'state'}
log_path = {self.root / 'dovecot.log'}
info_log_path = {self.root / 'dovecot.log'}
{self._ssl_settings()}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {min(self.uid, 500) if self.uid else 1}
{'' if root_only else f'default_internal_user = {own}'}
{'' if root_only else f'default_login_user = {own}'}
{'' if root_only else f'default_internal_group = {grp.getgrgid(os.getegid()).gr_name}'}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_dir}/%u
  default_fields = uid={self.uid} gid={self.gid} home={self.root / 'home'}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {LOOPBACK}
    port = {self.tls_port}
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
}}
""")

    def _ssl_settings(self) -> str:
        if self.certificates is None:
            return "ssl = no"
        # Dovecot reads the files as root before dropping privileges; copies inside its own
        # folder keep them readable whoever runs the test.
        cert, key = self.root / "server.pem", self.root / "server.key"
        shutil.copyfile(self.certificates.cert_file, cert)
        shutil.copyfile(self.certificates.key_file, key)
        return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"

    def start(self) -> Dovecot:
        self._write_config()
        check = subprocess.run([DOVECOT, "-c", str(self.config), "-n"], capture_output=True, text=True)
        if check.returncode != 0:
            raise DovecotUnavailable(f"doveconf rejected the test config: {check.stderr.strip()}")
        # Dovecot daemonizes: its output goes to a file, never to a pipe this process would wait
        # on until the daemon exits.
        with (self.root / "start.log").open("wb") as output:
            started = subprocess.run(
                [DOVECOT, "-c", str(self.config)], stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT,
            )
        if started.returncode != 0:
            raise DovecotUnavailable(
                f"dovecot did not start: {(self.root / 'start.log').read_text(errors='replace')}"
            )
        self._started = True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise DovecotUnavailable(f"dovecot did not listen on {self.port}: {self.log()[-2000:]}")

    def stop(self) -> None:
        if self._started:
            subprocess.run(
                [DOVEADM, "-c", str(self.config), "stop"], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
            )
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self, user: str, password: str) -> None:
        if any(c in user + password for c in ":\n\r/") or user.startswith("."):
            raise ValueError("user and password may not contain ':', '/' or newlines")
        # One passwd-file per user (the config's path has %u): a new user is a new file, which
        # Dovecot reads on first use, so adding users never waits on its change detection.
        fresh = self.users_dir / f".{user}.new"
        fresh.write_text(f"{user}:{{PLAIN}}{password}::::::\n")
        os.replace(fresh, self.users_dir / user)
        home = self.root / "home" / user
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, self.uid, self.gid)

    def append(self, user: str, folder: str, raw: bytes) -> None:
        """Place a message in a folder (`doveadm save`), as if it had arrived or been sent."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config), "save", "-u", user, "-m", folder],
            input=raw, capture_output=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm save failed: {result.stderr.decode(errors='replace')}")

    def create_folder(self, user: str, folder: str) -> None:
        """Create a folder (a UTF-8 name; Dovecot stores it in modified UTF-7)."""
        self._doveadm("mailbox", "create", "-u", user, folder)

    def set_uidvalidity(self, user: str, folder: str, validity: int) -> None:
        """Give a folder a new UIDVALIDITY, as a server does when it rebuilds a folder."""
        self._doveadm("mailbox", "update", "-u", user, "--uid-validity", str(validity), folder)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        output = self._doveadm("mailbox", "status", "-u", user, "uidvalidity", folder)
        return int(output.split("=")[1])

    def flags(self, user: str, folder: str = "INBOX") -> list[str]:
        """The flags of every message of a folder, oldest first."""
        output = self._doveadm("fetch", "-u", user, "flags", "mailbox", folder, "all")
        return [line.partition(":")[2].strip() for line in output.splitlines() if line.startswith("flags:")]

    def write_maildir(self, user: str, messages: list[bytes]) -> None:
        """Put messages straight into the INBOX's maildir (`new/`), as a delivery agent does:
        much faster than `doveadm save` for thousands; Dovecot indexes them when next asked."""
        home = self.root / "home" / user
        base = home / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for number, raw in enumerate(messages):
            name = f"{stamp}.M{number}P{os.getpid()}.sc-test"
            (base / "tmp" / name).write_bytes(raw.replace(b"\r\n", b"\n"))
            os.rename(base / "tmp" / name, base / "new" / name)
        for path in (home, *[p for p in home.rglob("*")]):
            os.chown(path, self.uid, self.gid)

    def _doveadm(self, *args: str) -> str:
        result = subprocess.run([DOVEADM, "-c", str(self.config), *args], capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {args[0]} failed: {result.stderr.decode(errors='replace')}")
        return result.stdout.decode(errors="replace")

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message of a folder, read straight from the maildir, oldest first, with CRLF
        line endings as IMAP serves them (maildir files store bare LF)."""
        base = self.root / "home" / user / "Maildir"
        if folder != "INBOX":
            base = base / ("." + folder.replace("/", "."))
        files = [p for sub in ("new", "cur") if (base / sub).is_dir() for p in (base / sub).iterdir()]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return [re.sub(rb"\r?\n", b"\r\n", p.read_bytes()) for p in files]


def running_dovecot(certificates: TestCertificates | None = None) -> Dovecot:
    """A started Dovecot, or (through `service_missing`) a failure under CI / a skip elsewhere.
    For fixtures: `d = running_dovecot(); yield d; d.stop()`."""
    from tests.conftest import service_missing

    try:
        return Dovecot(certificates=certificates).start()
    except DovecotUnavailable as error:
        service_missing("Dovecot (IMAP)", error)
        raise  # service_missing always raises; this keeps type checkers informed
