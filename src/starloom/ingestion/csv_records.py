"""CSV files split into records as a person counts them, and each record into its fields.

The rules (docs/sources.md says the same to users):
- Lines end with `\\n` or `\\r\\n`. Line numbers are the file's own, 1-based, the header
  being line 1; a record that spans lines has the number of its first line.
- An empty line is not a row. Every other line starts a record.
- Fields are separated by the delimiter. A field that starts with the quote character is
  quoted: it ends at the next quote that is not doubled (`""` is one `"`; with an `escape`
  character, that character makes the next one literal) and may hold delimiters and line
  breaks. A quote inside an unquoted field is an ordinary character. After a closing quote
  comes the delimiter or the end of the line; anything else breaks the row.
- A record is one line unless a quoted field is open at the end of the line: then it goes
  on over the next lines until the field closes. A record that closes is one row, all its
  lines, with the expected number of fields or else bad (a text read as a record is never
  read again as rows). One that does not close, or closes with text after the quote, is
  bad by its first line alone, and reading starts again at the next line. So a stray quote
  that never closes costs one row; one that a quote at the end of a later line closes makes
  the lines up to it one bad row, kept whole in the quarantine.
- An unquoted empty field is missing (NULL); a quoted empty field `""` is an empty text.

Blocks of the file without any quote (or escape) character are split and checked with
vectorized code; the others are read line by line.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

BLOCK_BYTES = 16 << 20  # bytes read at once
# a record (or a line) longer than this is one bad row, read past in bounded memory
MAX_RECORD_BYTES = int(os.environ.get("STARLOOM_MAX_RECORD_MB", "64")) << 20
COMPRESSIONS = ("auto", "none", "gzip", "zstd", "zip")


@dataclass(frozen=True)
class CsvDialect:
    """How a table's CSV files are written. Validated where the source is loaded."""

    delimiter: str = ","
    quote: str | None = '"'  # None: no field is quoted
    escape: str | None = None  # makes the next character literal, e.g. a backslash
    header: bool = True  # False: no header line; the columns are the contract's, in order
    encoding: str = "utf-8"  # an ASCII-compatible encoding: utf-8, latin-1, cp1252, ...
    compression: str = "auto"  # auto: from the extension (.gz, .zst, .zip); none; gzip; ...

    def compression_of(self, path: str) -> str:
        if self.compression != "auto":
            return self.compression
        name = path.lower()
        for ext, kind in ((".gz", "gzip"), (".zst", "zstd"), (".zip", "zip")):
            if name.endswith(ext):
                return kind
        return "none"


def check_encoding(name: str) -> str | None:
    """None when `name` is an encoding whose line ends and punctuation are ASCII bytes."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return f"unknown encoding {name!r}"
    if "\n,;|\t\"'\\".encode(info.name) != b"\n,;|\t\"'\\":
        return f"encoding {name!r} is not ASCII-compatible (UTF-16 and UTF-32 are not supported)"
    return None


def open_stream(path: str, dialect: CsvDialect):
    """The file's bytes, decompressed: a local path or an fsspec URL."""
    if "://" in path:
        import fsspec

        raw = fsspec.open(path, "rb").open()
    else:
        raw = open(path, "rb")  # noqa: SIM115 - closed with the returned stream
    kind = dialect.compression_of(path)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if kind == "zstd":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    if kind == "zip":
        return _zip_member(raw, path)
    return raw


def _zip_member(raw, path: str):
    """The one file inside a zip archive (a folder entry aside), as a buffered stream."""
    import zipfile

    try:
        archive = zipfile.ZipFile(raw)
    except zipfile.BadZipFile as exc:
        raw.close()
        raise OSError(f"not a readable zip archive ({exc})") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        archive.close()
        raise OSError(
            f"a zip archive must hold one file, {path} holds {len(members)}: "
            f"{[m.filename for m in members][:5]}; unzip it, or zip each file alone"
        )
    return io.BufferedReader(archive.open(members[0]))


@dataclass
class Chunk:
    """Records read from a stretch of the file: fields by column, and bad lines."""

    columns: dict[str, pa.Array]  # text per column (null: an unquoted empty field)
    lines: np.ndarray  # the file line of each record
    bad: list[tuple[int, str, str]]  # (line, reason, text) of records that could not be split
    broken: list[str | None] | None = None  # per record: bytes not in the encoding


class _Fields:
    """The field splitter of one dialect (compiled once)."""

    def __init__(self, d: CsvDialect):
        self.d = d
        q, e, sep = d.quote, d.escape, re.escape(d.delimiter)
        esc = re.escape(e) if e else None
        if q:
            qq = re.escape(q)
            inner = f"[^{qq}{esc or ''}]|{qq}{qq}" + (f"|{esc}." if esc else "")
            self.quoted = re.compile(f"{qq}((?:{inner})*){qq}(?!{qq})", re.S)  # the last quote
            self.cont = re.compile(f"(?:{inner})*{qq}(?!{qq})", re.S)  # closes an open field
            self.pair = q + q
        plain = f"[^{sep}{esc or ''}\\n]" + (f"|{esc}." if esc else "")
        self.unquoted = re.compile(f"(?:{plain})*", re.S)
        self.unescape = re.compile(f"{esc}(.)", re.S) if esc else None

    def split(self, text: str) -> list[str | None] | str:
        """The fields of a record, or the reason it breaks: OPEN when a quoted field is
        still open at the end of `text`."""
        d, fields, pos, n = self.d, [], 0, len(text)
        while True:
            if d.quote and text.startswith(d.quote, pos):
                m = self.quoted.match(text, pos)
                if not m:
                    return OPEN
                value = m.group(1).replace(self.pair, d.quote)
                if self.unescape:
                    value = self.unescape.sub(r"\1", value)
                fields.append(value)
                pos = m.end()
                if pos < n and text[pos] != d.delimiter:
                    return f"text after a closing quote ({text[pos : pos + 20]!r})"
            else:
                m = self.unquoted.match(text, pos)
                value = m.group(0)
                pos = m.end()
                if pos < n and text[pos] != d.delimiter:
                    return "a line break outside quotes"
                if self.unescape:
                    value = self.unescape.sub(r"\1", value)
                fields.append(value if value else None)
            if pos >= n:
                return fields
            pos += 1  # the delimiter


OPEN = "a quote that is never closed"


def too_long() -> str:
    """The reason of a line over the cap."""
    return f"a line longer than {MAX_RECORD_BYTES:,} bytes (not read)"


class _Lines:
    """A stream read by blocks of whole lines, numbered; bytes can be given back to be read
    again first (lines a bad record borrowed past its block)."""

    def __init__(self, stream, first_line: int, end: int | None):
        self.stream, self.next_no, self.left = stream, first_line, end
        self.back = b""
        self.too_long: list[tuple[int, str, str]] = []  # bad rows of lines not read whole

    def block(self, size: int) -> tuple[int, bytes]:
        """(first line number, bytes of whole lines); b'' at the end. A line longer than
        MAX_RECORD_BYTES is skipped in bounded memory and noted in `too_long`."""
        data, self.back = self.back, b""
        first = self.next_no - data.count(b"\n")
        want = size if self.left is None else min(size, self.left)
        if want > 0:
            more = self.stream.read(want)
            if more and not more.endswith(b"\n") and (self.left is None or len(more) < self.left):
                tail = self.stream.readline(MAX_RECORD_BYTES)
                if len(tail) == MAX_RECORD_BYTES and not tail.endswith(b"\n"):
                    cut = more.rfind(b"\n") + 1
                    line = self.next_no + more.count(b"\n", 0, cut)
                    self.too_long.append(
                        (
                            line,
                            too_long(),
                            (more[cut:] + tail)[:200].decode("utf-8", errors="replace"),
                        )
                    )
                    skipped = len(more) - cut + len(tail) + self._skip_line()
                    more = more[:cut]
                    if self.left is not None:
                        self.left -= skipped
                    self.next_no += 1
                else:
                    more += tail
            if self.left is not None:
                self.left -= len(more)
            self.next_no += more.count(b"\n")
            data += more
        return first, data

    def _skip_line(self) -> int:
        """Bytes up to and with the next line end, read and dropped in bounded memory."""
        skipped = 0
        while True:
            piece = self.stream.readline(1 << 20)
            skipped += len(piece)
            if not piece or piece.endswith(b"\n"):
                return skipped

    def more(self) -> bytes:
        """One more line past the block (b'' at the end): first from the lines given back
        (read before, counted then), else from the stream."""
        if self.back:
            cut = self.back.find(b"\n") + 1 or len(self.back)
            raw, self.back = self.back[:cut], self.back[cut:]
            return raw
        raw = self.stream.readline(MAX_RECORD_BYTES)
        self.next_no += raw.count(b"\n")
        return raw

    def give_back(self, data: bytes) -> None:
        self.back = data + self.back


def read_records(
    stream,
    dialect: CsvDialect,
    names: list[str],
    first_line: int,
    end: int | None = None,
) -> Iterator[Chunk]:
    """The records of `stream` (positioned on the first data line, numbered `first_line`)
    as chunks, one per block. With `end`, only records starting in the next `end` bytes.

    Each block's lines are classified with numpy: a line whose quotes are all whole quoted
    fields (the usual case, even when every field is quoted) is one record, split by Arrow's
    CSV reader; any other line starts a record read by `_Fields`, which may take the lines
    after it."""
    fields = _Fields(dialect)
    src = _Lines(stream, first_line, end)
    while True:
        first, data = src.block(BLOCK_BYTES)
        if src.too_long:
            yield Chunk(
                {n: pa.array([], pa.string()) for n in names}, np.zeros(0, np.int64), src.too_long
            )
            src.too_long = []
        if not data:
            return
        yield _block(data, first, dialect, names, fields, src)


def _classify(buf: np.ndarray, starts, stops, ends, dialect: CsvDialect):
    """Per line: (fields outside quotes, True where the line is a record on its own whose
    every quote belongs to a whole quoted field on that line)."""
    n = len(starts)

    def line_of(positions):
        return np.searchsorted(ends, positions)

    delims = np.flatnonzero(buf == ord(dialect.delimiter))
    safe = np.ones(n, dtype=bool)
    cr = np.flatnonzero(buf == 13)  # a \r anywhere but before the line end: read slowly
    if len(cr):
        safe[line_of(cr[cr != stops[line_of(cr)]])] = False
    outside = delims
    if dialect.quote:
        q = ord(dialect.quote)
        quotes = np.flatnonzero(buf == q)
        if len(quotes):
            qline = line_of(quotes)
            at_start = np.searchsorted(quotes, starts)  # quotes before each line
            local = np.arange(len(quotes)) - at_start[qline]  # quotes before it on its line
            prev = np.where(quotes > starts[qline], buf[np.maximum(quotes - 1, 0)], -1)
            at_end = quotes + 1 >= stops[qline]
            nxt = np.where(at_end, -1, buf[np.minimum(quotes + 1, len(buf) - 1)])
            d = ord(dialect.delimiter)
            opens_ok = (prev == -1) | (prev == d) | (prev == q)
            closes_ok = at_end | (nxt == d) | (nxt == q)
            ok = np.where(local % 2 == 0, opens_ok, closes_ok)
            safe[qline[~ok]] = False
            safe[np.bincount(qline, minlength=n) % 2 == 1] = False
            dline = line_of(delims)
            inside = (np.searchsorted(quotes, delims) - at_start[dline]) % 2 == 1
            outside = delims[~inside]
    counts = np.bincount(line_of(outside), minlength=n) + 1
    return counts, safe


def _block(data: bytes, first: int, dialect, names, fields: _Fields, src: _Lines) -> Chunk:
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    stops = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))  # without \r\n
    numbers = first + np.arange(len(ends))
    empty = stops == starts  # an empty line is not a row
    if dialect.escape:
        counts, safe = np.zeros(len(ends), dtype=np.int64), np.zeros(len(ends), dtype=bool)
    else:
        counts, safe = _classify(buf, starts, stops, ends, dialect)
    over = ends - starts >= MAX_RECORD_BYTES
    bad = [(int(numbers[i]), too_long(), _decode(data[starts[i] : starts[i] + 200],
            dialect.encoding)[0]) for i in np.flatnonzero(over)]  # fmt: skip
    take = ~empty & safe & ~over  # lines split by Arrow
    rows, lines, broken = [], [], []
    slow = np.flatnonzero(~empty & ~safe & ~over)
    done_until = 0  # lines before this one are read
    for u in slow:
        if u < done_until:
            continue
        used, record = _slow_record(data, starts, ends, u, dialect, fields, src, names)
        no = int(numbers[u])
        if isinstance(record, str):
            bad.append((no, record, _decode(data[starts[u] : stops[u]], dialect.encoding)[0]))
            done_until = u + 1
            continue
        if isinstance(record, _BadRecord):  # a whole record of several lines
            bad.append((no, record.reason, record.text))
            take[u : u + used] = False
            done_until = u + used
            continue
        values, wrong = record
        rows.append(values), lines.append(no), broken.append(wrong)
        take[u : u + used] = False
        done_until = u + used
    fits = take & (counts == len(names))
    for i in np.flatnonzero(take & ~fits):
        text = _decode(data[starts[i] : stops[i]], dialect.encoding)[0]
        reason = f"malformed CSV line ({int(counts[i])} fields, expected {len(names)})"
        bad.append((int(numbers[i]), reason, text))
    fast = _arrow_split(data, starts, ends, fits, dialect, names)
    fast_lines = numbers[fits]
    if not rows:
        return Chunk(fast[0], fast_lines, bad, fast[1])
    slow_chunk = _chunk_of_rows(rows, lines, [], broken, names)
    columns = {n: pa.concat_arrays([fast[0][n], slow_chunk.columns[n]]) for n in names}
    wrong = None
    if fast[1] or slow_chunk.broken:
        wrong = (fast[1] or [None] * len(fast_lines)) + (slow_chunk.broken or [None] * len(rows))
    return Chunk(columns, np.concatenate([fast_lines, slow_chunk.lines]), bad, wrong)


def _slow_record(data, starts, ends, u, dialect, fields: _Fields, src: _Lines, names):
    """(lines used, (fields, bytes problem) or the reason the record at line `u` is bad).

    A record open at the end of its line takes the next lines, past the block if need be;
    lines it took past the block are given back to be read again when it is bad."""
    end_u = int(ends[u]) + 1
    raw = data[starts[u] : end_u]
    text, wrong = _decode(raw, dialect.encoding)
    got = fields.split(_strip_end(text))
    used, size, borrowed = 1, len(raw), b""
    while got is OPEN and size <= MAX_RECORD_BYTES:
        i = u + used
        if i < len(starts):
            nxt = data[starts[i] : int(ends[i]) + 1]
        else:
            nxt = src.more()
            if not nxt:
                break
            borrowed += nxt
        used += 1
        size += len(nxt)
        more_text, more_wrong = _decode(nxt, dialect.encoding)
        wrong = wrong or more_wrong
        text += more_text
        if fields.cont.match(more_text) or not more_text.endswith("\n"):
            got = fields.split(_strip_end(text))
    if isinstance(got, list) and len(got) != len(names):
        reason = f"malformed CSV line ({len(got)} fields, expected {len(names)})"
        if used == 1:
            return 1, reason
        return used, _BadRecord(reason, _strip_end(text))
    if isinstance(got, str):
        if borrowed:
            src.give_back(borrowed)
        if used > 1 and got is not OPEN:  # what follows a later closing quote: not this line's
            got = (
                "a quoted field that runs over the next line(s) and ends with text after its quote"
            )
        return 1, got
    return used, (got, wrong)


@dataclass(frozen=True)
class _BadRecord:
    """A record of several lines that closes with another number of fields than the
    header: one bad row, all its lines."""

    reason: str
    text: str


def read_header(stream, dialect: CsvDialect) -> tuple[list[str], int]:
    """The header's column names and the number of lines it took (a byte-order mark at the
    start of the file is skipped). Raises ValueError with what is wrong."""
    first = stream.readline(MAX_RECORD_BYTES)
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    if not first.strip():
        raise ValueError("the header line is empty")
    if b"\r" in first.rstrip(b"\r\n"):
        raise ValueError(
            "its lines end with a lone carriage return (\\r, as old Mac files do), where "
            "lines end with \\n or \\r\\n: convert its line ends (for example "
            "`tr '\\r' '\\n' < old.csv > new.csv`)"
        )
    fields = _Fields(dialect)
    text, wrong = _decode(first, dialect.encoding)
    got, used = fields.split(_strip_end(text)), 1
    while got is OPEN and len(text) < MAX_RECORD_BYTES:
        more = stream.readline(MAX_RECORD_BYTES)
        if not more:
            break
        text, used = text + _decode(more, dialect.encoding)[0], used + 1
        got = fields.split(_strip_end(text))
    if wrong:
        raise ValueError(f"the header line has {wrong}; set the table's `csv: encoding`")
    if isinstance(got, str):
        raise ValueError(f"the header line cannot be read: {got}")
    names = [(n or "").strip() for n in got]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or "" in names:
        raise ValueError(
            f"the header names column(s) {dupes or ['(blank)']} more than once or not at "
            "all; every column needs a distinct name. Fix the header line."
        )
    return names, used


def ends_open(path: str, dialect: CsvDialect) -> bool:
    """True when the file's last line leaves a quoted field open (or might: a last line
    longer than 64 KiB). The engine's CSV reader closes such a field at the end of the
    file, where the rules make that line a bad row."""
    if not dialect.quote:
        return False
    tail = b""
    with open_stream(path, dialect) as fh:
        if dialect.compression_of(path) == "none":
            fh.seek(0, io.SEEK_END)
            fh.seek(max(fh.tell() - (64 << 10), 0))
            tail = fh.read()
        else:
            for piece in iter(lambda: fh.read(1 << 20), b""):
                tail = (tail + piece)[-(64 << 10) :]
    last = tail.rstrip(b"\r\n").rsplit(b"\n", 1)
    if len(last) == 1 and len(tail) >= 64 << 10:
        return True
    line = last[-1]
    if dialect.quote.encode() not in line:
        return False
    return _Fields(dialect).split(_decode(line, dialect.encoding)[0]) is OPEN


def skip_bom(stream) -> None:
    """Past a UTF-8 byte-order mark at the start of a file without a header line."""
    if stream.peek(3)[:3] == codecs.BOM_UTF8:
        stream.read(3)


def _strip_end(text: str) -> str:
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _decode(raw: bytes, encoding: str) -> tuple[str, str | None]:
    try:
        return raw.decode(encoding), None
    except UnicodeDecodeError as exc:
        return raw.decode(encoding, errors="replace"), f"bytes that are not {encoding}" + (
            f" (at byte {exc.start} of the line)"
        )


def _chunk_of_rows(rows, lines, bad, broken, names) -> Chunk:
    columns = {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(names)}
    wrong = list(broken) if any(broken) else None
    return Chunk(columns, np.asarray(lines, dtype=np.int64), list(bad), wrong)


def _arrow_split(data: bytes, starts, ends, rows, dialect: CsvDialect, names: list[str]):
    """(columns of text, per-row problem or None) of the lines `rows` of a block, each a
    record whose quotes are whole quoted fields: split by Arrow's CSV reader, which then
    splits exactly by the rules above."""
    if not rows.any():
        return {n: pa.array([], pa.string()) for n in names}, None
    if rows.sum() == len(rows):
        body = data
    else:
        body = b"".join(data[s : e + 1] for s, e in zip(starts[rows], ends[rows]))
    if not body.endswith(b"\n"):
        body += b"\n"
    if dialect.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        body = body.decode(dialect.encoding, errors="replace").encode("utf-8")
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=False, block_size=max(len(body) + 1, 1 << 20)
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=dialect.delimiter,
            quote_char=dialect.quote or False,
            double_quote=True,
            newlines_in_values=False,
            ignore_empty_lines=True,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.binary() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )
    if table.num_rows != int(rows.sum()):  # the split above and Arrow's must agree
        raise AssertionError(f"CSV block: {table.num_rows} rows split, {int(rows.sum())} counted")
    columns, broken = {}, None
    for name in names:
        arr = table.column(name).combine_chunks()
        try:
            columns[name] = arr.cast(pa.string())
        except pa.ArrowInvalid:  # bytes that are not UTF-8: decoded with U+FFFD, row flagged
            values = arr.to_pylist()
            fixed = [None if v is None else v.decode("utf-8", errors="replace") for v in values]
            columns[name] = pa.array(fixed, pa.string())
            broken = broken or [None] * len(values)
            for i, v in enumerate(values):
                if v is not None and broken[i] is None and _not_utf8(v):
                    broken[i] = f"column {name}: bytes that are not UTF-8"
    return columns, broken


def _not_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True
