"""Reading an uploaded CSV file without ever holding it in memory: encoding and delimiter
detection, and a record reader that knows the byte offset after every record (the import's
checkpoint), so an interrupted import resumes exactly where its last batch ended.

Encodings: a UTF-8, UTF-16 LE or UTF-16 BE byte-order mark decides; without one, UTF-16 is
recognised by its NUL bytes, then the whole file is checked as UTF-8 (streamed) and read as
Latin-1 when it is not (Latin-1 decodes any byte). UTF-16 files are transcoded to UTF-8 once,
at upload, so that every stored file splits into lines at b"\\n" and offsets stay exact.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from salescopilot.errors import ValidationFailed

CHUNK = 1 << 16
#: A physical line longer than this is skipped as one bad row instead of being read whole.
MAX_LINE_BYTES = 1 << 20
SAMPLE_BYTES = 1 << 16
DELIMITERS = ",;\t|"
MAX_COLUMNS = 200

# Records may hold fields up to a line's size (the default limit is 128 KiB).
csv.field_size_limit(MAX_LINE_BYTES)


class ImportFileEmpty(ValidationFailed):
    code = "IMPORT_FILE_EMPTY"
    default_message = "The file is empty."


class ImportFileUnreadable(ValidationFailed):
    code = "IMPORT_FILE_UNREADABLE"
    default_message = "The file's first row must name its columns."


@dataclass(frozen=True, slots=True)
class Detected:
    #: What the upload was encoded in: utf-8, utf-8-sig, utf-16-le, utf-16-be or latin-1.
    encoding: str
    delimiter: str
    header: list[str]
    #: Byte offset of the first data record in the stored file.
    data_offset: int


@dataclass(frozen=True, slots=True)
class Record:
    #: The record's row in the file, the header being row 1.
    row: int
    #: The cells, or None for a row that could not be read (see `problem`).
    cells: list[str] | None
    problem: str
    #: Byte offset just after this record.
    end: int


def stored_encoding(detected: str) -> str:
    """How the stored file is decoded (UTF-16 uploads are kept transcoded to UTF-8)."""
    return "latin-1" if detected == "latin-1" else "utf-8"


def detect_encoding(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith(codecs.BOM_UTF16_LE):
            return "utf-16-le"
        if head.startswith(codecs.BOM_UTF16_BE):
            return "utf-16-be"
        handle.seek(0)
        sample = handle.read(SAMPLE_BYTES)
        if len(sample) >= 4 and sample.count(0) > len(sample) // 3:
            # Text with a NUL in every other byte is UTF-16 without a BOM.
            return "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        try:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8"


def transcode_to_utf8(path: Path, encoding: str) -> None:
    """Rewrite a UTF-16 file as UTF-8 in place (streamed; undecodable units become U+FFFD)."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    temporary = path.with_suffix(".utf8")
    with open(path, "rb") as reader, open(temporary, "wb") as writer:
        first = True
        while chunk := reader.read(CHUNK):
            text = decoder.decode(chunk)
            if first:
                text, first = text.removeprefix("\ufeff"), False
            writer.write(text.encode("utf-8"))
        writer.write(decoder.decode(b"", final=True).encode("utf-8"))
    os.replace(temporary, path)


def detect_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def inspect_file(path: Path) -> Detected:
    """Detect encoding (transcoding UTF-16 to UTF-8 in place), delimiter and header."""
    if path.stat().st_size == 0:
        raise ImportFileEmpty()
    encoding = detect_encoding(path)
    if encoding.startswith("utf-16"):
        transcode_to_utf8(path, encoding)
    start = 3 if encoding == "utf-8-sig" else 0
    with open(path, "rb") as handle:
        handle.seek(start)
        sample_bytes = handle.read(SAMPLE_BYTES)
    # Cut the sample at its last line end so no character or row is split.
    cut = sample_bytes.rfind(b"\n")
    sample = (sample_bytes[: cut + 1] if cut > 0 else sample_bytes).decode(
        stored_encoding(encoding), errors="replace"
    )
    if not sample.strip():
        raise ImportFileEmpty()
    delimiter = detect_delimiter(sample)
    for record in read_records(path, encoding, delimiter, start, 0):
        if record.cells is None or not any(cell.strip() for cell in record.cells):
            raise ImportFileUnreadable()
        return Detected(encoding, delimiter, unique_header(record.cells), record.end)
    raise ImportFileEmpty()


def unique_header(cells: list[str]) -> list[str]:
    """Column names, trimmed, blank ones named by position, repeated ones numbered."""
    names: list[str] = []
    for index, cell in enumerate(cells[:MAX_COLUMNS], start=1):
        name = cell.strip().lstrip("\ufeff")[:100] or f"Column {index}"
        candidate, n = name, 2
        while candidate in names:
            candidate, n = f"{name} ({n})", n + 1
        names.append(candidate)
    return names


class _LineTooLong(Exception):
    pass


class _Lines:
    """The file's physical lines from an offset, decoded, counting the bytes consumed. A class,
    not a generator: it raises `_LineTooLong` through the csv reader and goes on afterwards."""

    def __init__(self, handle, encoding: str, position: int) -> None:
        self.handle = handle
        self.encoding = encoding
        self.position = position

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(MAX_LINE_BYTES)
        if not line:
            raise StopIteration
        self.position += len(line)
        if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:
                rest = self.handle.readline(MAX_LINE_BYTES)
                self.position += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            raise _LineTooLong()
        return line.decode(self.encoding, errors="replace")


def read_records(
    path: Path, encoding: str, delimiter: str, offset: int, row: int
) -> Iterator[Record]:
    """Records from byte `offset` on, numbered after `row`. A record that cannot be read is
    yielded with a problem instead of ending the file; the csv reader starts afresh after it."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        lines = _Lines(handle, stored_encoding(encoding), offset)
        reader = csv.reader(lines, delimiter=delimiter)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _LineTooLong:
                row += 1
                yield Record(row, None, "row_too_large", lines.position)
                continue
            except csv.Error:
                row += 1
                yield Record(row, None, "malformed_row", lines.position)
                continue
            row += 1
            yield Record(row, cells, "", lines.position)
