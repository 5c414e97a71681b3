"""`salescopilot mail classify`: files and directories, one verdict per message, and the stable
one-line JSON form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from salescopilot.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
EXPECTED: dict[str, dict] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
KEYS = ["file", "kind", "bounce", "auto_reply", "in_reply_to", "original_message_id"]


def run(*args: str):
    return CliRunner().invoke(main, ["mail", "classify", *args], catch_exceptions=False)


def test_json_lines_for_a_directory_match_the_expected_verdicts(tmp_path):
    for folder in ("bounce", "auto_reply", "complaint"):
        shutil.copytree(FIXTURES / folder, tmp_path / folder)
    (tmp_path / ".hidden").write_bytes(b"From: x@y.z\n\nskipped")
    result = run("--json", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.eml"))
    assert len(lines) == len(names)
    for line, name in zip(lines, names):
        record = json.loads(line)
        assert list(record) == KEYS
        assert record["file"] == str(tmp_path / name)
        assert {k: record[k] for k in KEYS[1:]} == EXPECTED[name]


def test_files_and_directories_mixed_each_file_once(tmp_path):
    one = FIXTURES / "bounce" / "postfix-user-unknown.eml"
    (tmp_path / "inbox").mkdir()
    shutil.copy(FIXTURES / "reply" / "en-reply-quoted.eml", tmp_path / "inbox" / "message")
    (tmp_path / "inbox" / "deeper").mkdir()
    shutil.copy(FIXTURES / "malformed" / "binary-garbage.eml", tmp_path / "inbox" / "deeper" / "x")
    result = run("--json", str(one), str(tmp_path / "inbox"), str(one))
    kinds = [json.loads(line)["kind"] for line in result.output.splitlines()]
    assert kinds == ["bounce", "reply", "unknown"]


def test_human_output_names_what_the_verdict_knows():
    result = run(str(FIXTURES / "bounce" / "postfix-user-unknown.eml"),
                 str(FIXTURES / "auto_reply" / "de-exchange-bis.eml"),
                 str(FIXTURES / "complaint" / "arf-yahoo.eml"))
    assert result.exit_code == 0
    bounce, auto, complaint = result.output.splitlines()
    assert bounce.endswith(
        "postfix-user-unknown.eml: bounce hard 5.1.1 user_unknown recipients=jdoe@example.com "
        "original=<sc.0101.99819@northwind-sales.test>")
    assert auto.split(": ", 1)[1].startswith("auto_reply return=2026-12-04 in-reply-to=<sc.0311.")
    assert "complaint feedback=abuse recipients=disgruntled@yahoo.example" in complaint


def test_unreadable_file_is_reported_and_the_rest_still_classified(tmp_path, monkeypatch):
    shutil.copy(FIXTURES / "reply" / "en-reply-quoted.eml", tmp_path / "a.eml")
    (tmp_path / "b.eml").write_bytes(b"From: x@y.z\n\nhi")
    real_open = Path.open

    def refusing_open(self, *args, **kwargs):
        # Permission bits do not stop root, so the refusal is simulated at the open call.
        if self.name == "b.eml":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    result = CliRunner().invoke(main, ["mail", "classify", "--json", str(tmp_path)])
    assert result.exit_code == 1
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == ["reply"]
    assert "b.eml: cannot read: Permission denied" in result.stderr


def test_a_missing_path_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["mail", "classify", str(tmp_path / "nope.eml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert CliRunner().invoke(main, ["mail", "classify"]).exit_code == 2
