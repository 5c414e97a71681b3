"""Encoding and delimiter detection, and the record reader's offsets (the import checkpoint)."""

from __future__ import annotations

import codecs

import pytest

from salescopilot.leads.csv_reader import (
    ImportFileEmpty,
    ImportFileUnreadable,
    detect_delimiter,
    inspect_file,
    read_records,
    unique_header,
)

TEXT = "email;name;city\nana@example.com;Ana;Zürich\nbo@example.com;\"Bo; Jr\";Köln\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("latin-1"), "latin-1"),
    ],
)
def test_encodings_are_detected_and_every_file_reads_the_same(tmp_path, data, encoding):
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    detected = inspect_file(path)
    assert (detected.encoding, detected.delimiter) == (encoding, ";")
    assert detected.header == ["email", "name", "city"]
    records = list(read_records(path, detected.encoding, detected.delimiter, detected.data_offset, 1))
    assert [r.cells for r in records] == [["ana@example.com", "Ana", "Zürich"], ["bo@example.com", "Bo; Jr", "Köln"]]
    assert [r.row for r in records] == [2, 3]


def test_invalid_utf8_late_in_a_big_file_falls_back_to_latin1(tmp_path):
    path = tmp_path / "upload.csv"
    path.write_bytes(b"email,name\n" + b"a@example.com,ok\n" * 20_000 + b"b@example.com,caf\xe9\n")
    detected = inspect_file(path)
    assert detected.encoding == "latin-1"
    last = list(read_records(path, detected.encoding, ",", detected.data_offset, 1))[-1]
    assert last.cells == ["b@example.com", "café"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_detected(delimiter):
    sample = delimiter.join(["email", "first", "last"]) + "\n" + delimiter.join(["a@x.io", "A", "B"]) + "\n"
    assert detect_delimiter(sample) == delimiter


def test_offsets_let_a_reader_resume_exactly_after_any_record(tmp_path):
    path = tmp_path / "upload.csv"
    path.write_bytes(b'email,notes\r\na@x.io,"two\r\nlines"\r\nb@x.io,plain\r\n\r\nc@x.io,"say ""hi"""\r\n')
    detected = inspect_file(path)
    every = list(read_records(path, "utf-8", ",", detected.data_offset, 1))
    assert [r.cells for r in every] == [["a@x.io", "two\r\nlines"], ["b@x.io", "plain"], [], ["c@x.io", 'say "hi"']]
    for index, record in enumerate(every):
        rest = list(read_records(path, "utf-8", ",", record.end, record.row))
        assert [(r.row, r.cells) for r in rest] == [(r.row, r.cells) for r in every[index + 1 :]]


def test_empty_and_headerless_files_are_refused(tmp_path):
    path = tmp_path / "upload.csv"
    for data in (b"", b"\n\n", codecs.BOM_UTF8):
        path.write_bytes(data)
        with pytest.raises(ImportFileEmpty):
            inspect_file(path)
    path.write_bytes(b",,\na@x.io,b,c\n")
    with pytest.raises(ImportFileUnreadable):
        inspect_file(path)


def test_header_names_are_made_unique_and_blank_ones_named():
    assert unique_header([" Email ", "", "Name", "Name", "Name"]) == ["Email", "Column 2", "Name", "Name (2)", "Name (3)"]
