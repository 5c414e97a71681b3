"""The CSV fuzz test of issue #5: hypothesis-made files (quotes, embedded newlines, wrong column
counts, invalid UTF-8, several encodings and delimiters, formula cells), plus the empty file,
the header-only file and a 10 MB single field. No crash, and every row accounted for: each row
of the file is imported, updated or in the report of skipped rows, exactly once."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from salescopilot.errors import DomainError
from tests.integration.leads.import_support import import_bytes, problems

CELL = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.sampled_from(['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", 'say "hi"', "a,b;c\td|e", "two\nlines",
                     "\r\n", "ümlaut", "日本語"]),
)
EMAIL = st.one_of(
    st.integers(0, 40).map(lambda i: f"user{i}@example.com"),
    st.integers(0, 40).map(lambda i: f"User{i}@Example.COM"),
    st.sampled_from(["", "not-an-email", "a@b", "=cmd|' /C calc'!A0", "x@@example.com", " spaced@example.com "]),
)
ROW = st.tuples(EMAIL, st.lists(CELL, min_size=0, max_size=5)).map(lambda pair: [pair[0], *pair[1]])


def _encode(rows: list[list[str]], delimiter: str, encoding: str, garbage: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["email", "first name", "company", "notes"])
    writer.writerows(rows)
    text = buffer.getvalue()
    if encoding == "latin-1":
        data = text.encode("latin-1", errors="replace")
    else:
        data = text.encode(encoding)
    if garbage and encoding == "utf-8":
        # Bytes that are not UTF-8, in the middle of a cell of the first data row.
        index = data.find(b"\n") + 2
        data = data[:index] + b"\xff\xfe\xc3" + data[index:]
    return data


@hypothesis_settings(max_examples=30, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    rows=st.lists(ROW, min_size=1, max_size=25),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "latin-1"]),
    garbage=st.booleans(),
    on_duplicate=st.sampled_from(["update", "skip"]),
    batch_size=st.sampled_from([1, 3, 1000]),
)
async def test_every_row_of_any_file_is_accounted_for(settings, tenant_a, rows, delimiter, encoding, garbage,
                                                      on_duplicate, batch_size):
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + _encode(rows, delimiter, "utf-16-be", False)
    else:
        data = _encode(rows, delimiter, encoding, garbage)
    result = await import_bytes(settings, tenant_a, data, on_duplicate=on_duplicate, batch_size=batch_size)
    assert result["status"] == "completed", result
    assert result["rowsProcessed"] == len(rows)
    assert result["imported"] + result["updated"] + result["skipped"] == len(rows)
    report = await problems(settings, tenant_a, result["id"])
    assert len(report) == result["skipped"]
    numbers = [int(r[0]) for r in report]
    assert len(set(numbers)) == len(numbers) and all(2 <= n <= len(rows) + 1 for n in numbers)
    for row in report:
        assert not row[1].startswith(("=", "+", "-", "@")), row


async def test_an_empty_file_is_refused(settings, tenant_a):
    with pytest.raises(DomainError) as raised:
        await import_bytes(settings, tenant_a, b"")
    assert raised.value.code == "IMPORT_FILE_EMPTY"


async def test_a_header_only_file_imports_nothing(settings, tenant_a):
    for data in (b"email,name", b"email,name\r\n", "\ufeffemail;name\n".encode()):
        result = await import_bytes(settings, tenant_a, data)
        assert (result["status"], result["rowsProcessed"], result["skipped"]) == ("completed", 0, 0)


async def test_a_10_mb_field_is_one_skipped_row_and_the_rest_imports(settings, tenant_a):
    huge = "x" * (10 * 1024 * 1024)
    data = (f"email,notes\r\nbefore@example.com,ok\r\nbig@example.com,{huge}\r\n"
            f'quoted@example.com,"{huge}"\r\nafter@example.com,ok\r\n').encode()
    result = await import_bytes(settings, tenant_a, data)
    assert (result["rowsProcessed"], result["imported"], result["skipped"]) == (4, 2, 2)
    assert [r[2] for r in await problems(settings, tenant_a, result["id"])] == ["row_too_large", "row_too_large"]


async def test_nul_bytes_and_unclosed_quotes_do_not_stop_the_import(settings, tenant_a):
    data = b'email,notes\nfirst@example.com,a\x00b\nsecond@example.com,ok\nthird@example.com,"never closed\n'
    result = await import_bytes(settings, tenant_a, data)
    assert result["status"] == "completed"
    assert result["imported"] + result["updated"] + result["skipped"] == result["rowsProcessed"]
    assert result["imported"] >= 1


#: Pieces of hand-written CSV, including broken quoting that no CSV writer would produce: a quote
#: opened mid-field, a quoted field followed by text, doubled and lone quotes, quoted newlines.
PIECE = st.sampled_from([
    "a@example.com", "B@Example.com", "c@example.com", "not-an-email", "", '"', '""', '"quoted"', 'x"y',
    '"open', 'close"', '"two\nlines"', '"a,b"', "=1+1", "@cmd", ",", ",", " ", "ü", "\r",
])
RAW_LINE = st.lists(PIECE, min_size=0, max_size=6).map("".join)


@hypothesis_settings(max_examples=30, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(RAW_LINE, min_size=1, max_size=20), newline=st.sampled_from(["\n", "\r\n"]))
async def test_broken_quoting_never_crashes_and_every_counted_row_is_reported(settings, tenant_a, lines, newline):
    data = ("email,name" + newline + newline.join(lines) + newline).encode()
    result = await import_bytes(settings, tenant_a, data)
    assert result["status"] == "completed", result
    assert result["imported"] + result["updated"] + result["skipped"] == result["rowsProcessed"]
    assert result["rowsProcessed"] <= len(lines) + data.count(b"\n")
    report = await problems(settings, tenant_a, result["id"])
    assert len(report) == result["skipped"]
    for row in report:
        assert not row[1].startswith(("=", "+", "-", "@")), row
