"""Every hand-written fixture in tests/fixtures/mail/ gets exactly its expected verdict, and the
committed fixtures are what the generator writes."""

from __future__ import annotations

import collections
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from salescopilot.mail.classify import KINDS, classify_message, classify_strict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
EXPECTED: dict[str, dict] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
MTA_FORMATS = ("postfix", "exim", "sendmail", "qmail", "office365", "exchange2010", "gmail",
               "yahoo", "outlookcom", "ses")
LANGUAGES = ("en", "de", "fr", "es", "pt", "nl", "sv")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_verdict(name):
    raw = (FIXTURES / name).read_bytes()
    verdict = classify_strict(raw)
    assert verdict.to_dict() == EXPECTED[name]
    assert classify_message(raw) == verdict


def test_the_set_is_large_and_covers_every_kind_format_and_language():
    assert len(EXPECTED) >= 150
    kinds = collections.Counter(e["kind"] for e in EXPECTED.values())
    assert set(kinds) == set(KINDS), kinds
    bounces = [n.split("/")[1] for n, e in EXPECTED.items() if n.startswith("bounce/")]
    for mta in MTA_FORMATS:
        soft_and_hard = {EXPECTED[f"bounce/{n}"]["bounce"]["hard"] for n in bounces
                         if n.startswith(mta + "-")}
        assert soft_and_hard, f"no {mta} bounce"
    for mta in ("postfix", "exim", "qmail", "gmail", "office365", "ses", "yahoo", "sendmail"):
        hardness = {EXPECTED[f"bounce/{n}"]["bounce"]["hard"] for n in bounces
                    if n.startswith(mta)}
        assert hardness == {True, False}, f"{mta} needs hard and soft examples"
    for language in LANGUAGES:
        dated = [e["auto_reply"]["return_date"] for n, e in EXPECTED.items()
                 if n.startswith(f"auto_reply/{language}-")]
        assert any(dated) and None in dated, f"{language}: with and without a return date"


def test_every_file_has_an_expected_verdict():
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.eml")}
    assert on_disk == set(EXPECTED)


def test_committed_fixtures_are_the_generator_output(tmp_path):
    spec = importlib.util.spec_from_file_location("mail_fixture_generator",
                                                  FIXTURES / "generate.py")
    generator = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(generator)
        count = generator.write(tmp_path)
    finally:
        sys.path[:] = saved
    assert count == len(EXPECTED)
    for name in EXPECTED:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name
    assert json.loads((tmp_path / "expected.json").read_text(encoding="utf-8")) == EXPECTED
