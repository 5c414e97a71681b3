"""The catcher's messages on disk: one `.eml` file per message plus `index.json` (newest last).

Message ids are generated here and checked against one pattern before they ever become a path,
so no id from a URL can reach outside the folder. Writes are atomic (temp file + rename) and
serialised by a lock: the SMTP server's thread writes while web requests read.
"""

from __future__ import annotations

import datetime as dt
import email
import email.errors
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from email.header import decode_header, make_header
from pathlib import Path

from salescopilot.errors import NotFound

_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{12}$")


class MessageNotFound(NotFound):
    code = "CAUGHT_MESSAGE_NOT_FOUND"
    default_message = "No such message in the mail catcher."


@dataclass(frozen=True, slots=True)
class CaughtMessage:
    """What the list shows of one received message."""

    id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    received_at: str
    size: int


class MailStore:
    def __init__(self, folder: Path, max_messages: int) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.folder = folder
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def _index_path(self) -> Path:
        return self.folder / "index.json"

    def save(self, mail_from: str, rcpt_tos: list[str], raw: bytes, received_at: dt.datetime) -> str:
        """Store one message; returns its id. The oldest beyond `max_messages` are removed."""
        message_id = f"{received_at.astimezone(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"
        entry = CaughtMessage(
            id=message_id,
            mail_from=mail_from,
            rcpt_tos=tuple(rcpt_tos),
            subject=_subject(raw),
            received_at=received_at.astimezone(dt.UTC).isoformat(),
            size=len(raw),
        )
        with self._lock:
            _write_atomically(self._eml_path(message_id), raw)
            entries = self._read_index() + [entry]
            removed, entries = entries[: -self.max_messages], entries[-self.max_messages :]
            self._write_index(entries)
            for old in removed:
                self._eml_path(old.id).unlink(missing_ok=True)
        return message_id

    def list(self) -> list[CaughtMessage]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._read_index()))

    def entry(self, message_id: str) -> CaughtMessage:
        for entry in self.list():
            if entry.id == message_id:
                return entry
        raise MessageNotFound()

    def raw(self, message_id: str) -> bytes:
        path = self._eml_path(message_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise MessageNotFound() from None

    def clear(self) -> None:
        with self._lock:
            for entry in self._read_index():
                self._eml_path(entry.id).unlink(missing_ok=True)
            self._write_index([])

    def _eml_path(self, message_id: str) -> Path:
        if not isinstance(message_id, str) or not _ID.match(message_id):
            raise MessageNotFound()
        return self.folder / f"{message_id}.eml"

    def _read_index(self) -> list[CaughtMessage]:
        try:
            data = json.loads(self._index_path.read_text())
            return [
                CaughtMessage(**{**item, "rcpt_tos": tuple(item["rcpt_tos"])})
                for item in data
                if _ID.match(str(item.get("id", "")))
            ]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError, KeyError):
            # A damaged index (a crash mid-write cannot cause one, a hand edit can): start over
            # rather than fail every page; the .eml files stay on disk.
            return []

    def _write_index(self, entries: list[CaughtMessage]) -> None:
        _write_atomically(self._index_path, json.dumps([asdict(e) for e in entries]).encode())


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _subject(raw: bytes) -> str:
    try:
        headers = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        value = headers.get("Subject", "")
        return str(make_header(decode_header(value)))[:300] if value else ""
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return ""  # a hostile or broken Subject must not lose the message
