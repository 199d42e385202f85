"""Delimited text tables (csv, tsv) read strictly, with errors that name the line.

Reads one file; writes nothing. The whole file is decoded first, so undecodable bytes are an
error naming the line and column and the ``encoding:`` field to set, never a byte offset. The
rows are parsed by Python's ``csv`` module in strict mode, so a stray or unclosed quote is an
error naming the line where the quoted field opens, not a silently merged row; a record with
more or fewer fields than the header is an error naming its line. Blank lines are skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from pathlib import Path
from typing import Any

from imhi.io import InputError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long post is a length problem, not a parse error

Row = dict[str, str]
HINT_ENCODINGS = "e.g. encoding: latin-1, cp1252 or gb18030"


def decode(path: Path, data: bytes, encoding: str) -> str:
    """The file's text; undecodable bytes name the line and column and the ``encoding:`` field."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(path, f"unknown encoding '{encoding}'", field="encoding") from None
    try:
        return data.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start:exc.start].decode(codec, errors="replace")) + 1
        raise InputError(path, f"line {line}, column {column}: byte 0x{data[exc.start]:02x} is not valid "
                         f"{codec}; set the source's encoding ({HINT_ENCODINGS})", field="encoding") from None


def read_table(path: str | Path, sep: str = ",", encoding: str = "utf-8") -> list[Row]:
    """Rows of a delimited file as ``{header: cell}`` dicts (all strings)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found", field="path")
    text = decode(path, path.read_bytes(), encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    header = _header(path, reader, text, sep)
    rows: list[Row] = []
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise InputError(path, quote_problem(text, start, sep, str(exc))) from None
        if cells is None:
            return rows
        end = reader.line_num
        if not cells:
            continue
        if len(cells) != len(header):
            raise InputError(path, f"line {start}: {_fields(len(cells))}, the header has {_fields(len(header))}"
                             + _spans(start, end), row=len(rows) + 1)
        rows.append(dict(zip(header, cells, strict=True)))


def _header(path: Path, reader: Any, text: str, sep: str) -> list[str]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(path, quote_problem(text, 1, sep, str(exc))) from None
    if not header:
        raise InputError(path, "empty file: no header line")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(path, f"line 1: duplicate column names {dupes}")
    return header


def _fields(n: int) -> str:
    return f"{n} field" + ("" if n == 1 else "s")


def _spans(start: int, end: int) -> str:
    if end == start:
        return ""
    return (f" (the record runs from line {start} to line {end}: a quoted field probably "
            "holds a stray \" quote)")


def quote_problem(text: str, start: int, sep: str, error: str) -> str:
    """Where the quoted field that breaks the record starting at line ``start`` opens."""
    found = _find_bad_quote(text, start, sep)
    if found is None:
        return f"line {start}: {error}"
    opened, closed, after = found
    if closed is None:
        return (f"line {opened}: a quoted field opens here and is never closed (the file ends "
                "inside it); close or remove the \" quote")
    return (f"line {opened}: the quoted field that opens here ends at line {closed} followed by "
            f"{after!r} instead of a separator; an unclosed or stray \" quote")


def _find_bad_quote(text: str, start: int, sep: str) -> tuple[int, int | None, str] | None:
    """(line the bad quoted field opens on, line its closing quote is on or None, the char after)."""
    pos = 0
    for _ in range(start - 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return None
    line, at_field_start, i = start, True, pos
    while i < len(text):
        ch = text[i]
        if at_field_start and ch == '"':
            opened, i = line, i + 1
            while True:
                j = text.find('"', i)
                if j < 0:
                    return opened, None, ""
                line += text.count("\n", i, j)
                if text.startswith('""', j):
                    i = j + 2
                    continue
                after = text[j + 1:j + 2]
                if after not in (sep, "\n", "\r", ""):
                    return opened, line, after
                i, at_field_start = j + 1, False
                break
            continue
        if ch == "\n":
            line += 1
        at_field_start = ch in (sep, "\n", "\r")
        i += 1
    return None
