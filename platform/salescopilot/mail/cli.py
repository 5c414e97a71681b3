"""`salescopilot mail`: mail tools that need no database.

`mail classify PATH... [--json]` prints one verdict per message file. Directories are walked
recursively (every regular file, hidden ones skipped, in name order). `--json` prints one JSON
object per line — a stable interface for scripts:

    {"file": ..., "kind": ..., "bounce": {"hard", "status", "reason", "recipients"} | null,
     "auto_reply": {"return_date"} | null, "in_reply_to": ..., "original_message_id": ...}

A file that cannot be read is reported on standard error and makes the exit status 1; the other
files are still classified.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from salescopilot.mail.classify import MAX_MESSAGE_BYTES, Verdict, classify_message


@click.group()
def mail() -> None:
    """Mail tools: classify inbound messages."""


@mail.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (stable format).")
def classify(paths: tuple[Path, ...], as_json: bool) -> None:
    """Classify message files (or directories of them): reply, auto_reply, bounce, complaint,
    unsubscribe or unknown."""
    failures = 0
    for path in message_files(paths):
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_MESSAGE_BYTES)
        except OSError as error:
            click.echo(f"{display(path)}: cannot read: {error.strerror or error}", err=True)
            failures += 1
            continue
        verdict = classify_message(raw)
        if as_json:
            click.echo(json.dumps({"file": display(path), **verdict.to_dict()}))
        else:
            click.echo(f"{display(path)}: {describe(verdict)}")
    if failures:
        sys.exit(1)


def message_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    """The files named, and the regular files under the directories named (recursively, sorted,
    without hidden files and folders), each once."""
    seen: set[Path] = set()
    for path in paths:
        candidates = [path] if not path.is_dir() else _walk(path)
        for candidate in candidates:
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            candidate = Path(root) / name
            if not name.startswith(".") and candidate.is_file():
                yield candidate


def display(path: Path) -> str:
    """The path as printable text (undecodable bytes in a file name become U+FFFD)."""
    return os.fsencode(path).decode("utf-8", errors="replace")


def describe(verdict: Verdict) -> str:
    """One human line: the kind, then what the verdict knows."""
    parts = [verdict.kind]
    if verdict.bounce is not None:
        bounce = verdict.bounce
        parts += ["hard" if bounce.hard else "soft", bounce.status or "-", bounce.reason]
        if bounce.recipients:
            parts.append("recipients=" + ",".join(bounce.recipients))
    if verdict.auto_reply is not None and verdict.auto_reply.return_date is not None:
        parts.append(f"return={verdict.auto_reply.return_date.isoformat()}")
    if verdict.complaint is not None:
        parts.append(f"feedback={verdict.complaint.feedback_type}")
        if verdict.complaint.recipients:
            parts.append("recipients=" + ",".join(verdict.complaint.recipients))
    if verdict.original_message_id:
        parts.append(f"original={verdict.original_message_id}")
    if verdict.in_reply_to:
        parts.append(f"in-reply-to={verdict.in_reply_to}")
    return " ".join(parts)
