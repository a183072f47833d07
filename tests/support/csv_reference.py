"""An independent reading of the ingestion rules, and a generator of damaged files to check
ingestion against it.

Nothing here imports starloom: the reference must not share a bug with the code it checks.
It is written from the rules alone (CSV and JSON lines split into records, values typed and
checked, repeated keys), on Python's `csv` module (strict, one record at a time, so that a
broken record of several lines can be read again from its next line) and `json` module.

The generator writes files from a seed, with valid values written in several ways and
damage of many kinds. The reference, not the generator, decides what each file holds: the
generator only has to produce bytes. Where the rules do not decide a case (text after a
closing quote in a record of several lines, say), the reference raises `Ambiguous` and the
generator writes that file again, so that every expectation checked is one the rules fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePosixPath

# -- the contract the fuzzed files are read with ------------------------------------------
CONTRACT = {
    "id": {"type": "int64", "nullable": False},
    "name": {"type": "string"},
    "amount": {"type": "decimal(12,2)"},
    "day": {"type": "date", "nullable": False},
    "at": {"type": "datetime"},
    "qty": {"type": "int64"},
    "tag": {"type": "string", "nullable": False},
}
PRIMARY_KEY = "id"
NAMES = list(CONTRACT)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DAY_MIN, DAY_MAX = dt.date(1900, 1, 1), dt.date(2299, 12, 31)
BOM = b"\xef\xbb\xbf"


class Ambiguous(Exception):
    """The rules do not decide how this content reads: such a file is never used."""


class Bad(Exception):
    """The row breaks a rule; the message says which (for mismatch reports only)."""


MISSING = None  # a missing value: an empty unquoted CSV field, a JSON null or absent key


@dataclass
class Row:
    """One row as the rules read it: where it starts, and either its typed values or why
    it is quarantined."""

    file: str
    line: int
    values: dict | None = None
    reason: str = ""
    text_has_crlf: bool = False  # a value spans a CRLF line end (see `same_text`)

    @property
    def ok(self) -> bool:
        return not self.reason


# -- values ---------------------------------------------------------------------------------
_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_DECIMAL = re.compile(r"[+-]?([0-9]+)(?:\.([0-9]+))?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(  # a date alone is its midnight
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]+))?)?Z?)?"
)


def _calendar_day(y: str, m: str, d: str) -> dt.date:
    try:
        day = dt.date(int(y), int(m), int(d))
    except ValueError:
        raise Bad("not a calendar day") from None
    if not DAY_MIN <= day <= DAY_MAX:
        raise Bad("date out of range 1900-01-01..2299-12-31")
    return day


def typed(ctype: str, text: str):
    """A present value (not missing) converted by the rules of its column type.

    Text is kept exactly; any other value may have spaces around it, nothing else. Raises
    Bad when the text is not a value of the type.
    """
    if ctype == "string":
        return text
    value = text.strip(" ")
    if not value:
        # spaces only: the rules say neither "missing" nor "bad"
        raise Ambiguous(f"blank {ctype} value {text!r}")
    if ctype == "int64":
        if not _INT.fullmatch(value):
            raise Bad(f"not an int64: {value!r}")
        number = int(value)
        if not INT64_MIN <= number <= INT64_MAX:
            raise Bad(f"int64 out of range: {value}")
        return number
    dec = _DECIMAL_TYPE.fullmatch(ctype)
    if dec:
        precision, scale = int(dec.group(1)), int(dec.group(2))
        m = _DECIMAL.fullmatch(value)
        if not m:
            raise Bad(f"not a plain decimal: {value!r}")
        whole, fraction = m.group(1), m.group(2) or ""
        if len(whole) > 1 and whole.startswith("0"):
            raise Ambiguous(f"leading zeros in a decimal: {value!r}")  # digits counted how?
        if len(whole) > precision - scale:
            raise Bad(f"more than {precision - scale} integer digits: {value}")
        if fraction[scale:].strip("0"):
            raise Bad(f"not exact with {scale} decimal places: {value}")
        return Decimal(value)
    if ctype == "date":
        m = _DATE.fullmatch(value)
        if not m:
            raise Bad(f"not YYYY-MM-DD: {value!r}")
        return _calendar_day(*m.groups())
    if ctype == "datetime":
        m = _DATETIME.fullmatch(value)
        if not m:
            raise Bad(f"not a datetime: {value!r}")
        day = _calendar_day(*m.groups()[:3])
        hour, minute = m.group(4) or "0", m.group(5) or "0"
        second, fraction = m.group(6) or "0", m.group(7)
        if fraction is not None and len(fraction) > 6:
            raise Bad(f"more than 6 fraction digits: {value}")
        try:
            clock = dt.time(
                int(hour), int(minute), int(second), int((fraction or "").ljust(6, "0"))
            )
        except ValueError:
            raise Bad(f"not a time of day: {value!r}") from None
        return dt.datetime.combine(day, clock)
    raise ValueError(f"unknown column type {ctype}")


def check_values(raw: dict) -> dict:
    """Every contract column typed (None for missing); raises Bad on the first broken one."""
    out = {}
    for name, spec in CONTRACT.items():
        value = raw.get(name, MISSING)
        if value is MISSING:
            if not spec.get("nullable", True):
                raise Bad(f"column {name}: missing value (not nullable)")
            out[name] = None
            continue
        if spec["type"] == "string" and not value.strip() and not spec.get("nullable", True):
            raise Bad(f"column {name}: missing value (not nullable)")  # blank text is missing
        try:
            out[name] = typed(spec["type"], value)
        except Bad as exc:
            raise Bad(f"column {name}: {exc}") from None
    return out


# -- CSV ------------------------------------------------------------------------------------
def split_lines(data: bytes) -> list[bytes]:
    """Physical lines, each with its line end (\\n or \\r\\n; none for a last line without
    one). A line end at the end of the file starts no further line."""
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    return out + ([lines[-1]] if lines[-1] else [])


def _not_utf8(text: str) -> bool:
    """Whether text decoded with surrogateescape held bytes that are not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _quoted(raw: str, fields: list[str]) -> list[bool]:
    """Which fields of a well-formed record were quoted (the csv module does not say, and an
    empty field means NULL unquoted but the empty text quoted). Each field's length in the
    record follows from its value: a quoted one adds its two quotes and doubles its own."""
    flags, p = [], 0
    for value in fields:
        quoted = raw.startswith('"', p)
        flags.append(quoted)
        p += (len(value) + value.count('"') + 2 if quoted else len(value)) + 1
    return flags


def _csv_row_values(header: list[str], fields: list[str], quoted: list[bool]) -> dict:
    """The contract columns' raw values of a record with the header's number of fields."""
    raw = {}
    for name, value, was_quoted in zip(header, fields, quoted):
        if _not_utf8(value):
            raise Bad("bytes that are not UTF-8")
        if name not in CONTRACT:
            continue
        if value == "":
            # an unquoted empty field is missing; a quoted "" is the empty text, in a
            # string column, and missing in any other
            string = CONTRACT[name]["type"] == "string"
            raw[name] = "" if was_quoted and string else MISSING
        else:
            raw[name] = value
    return raw


def _read_record(lines: list[str], i: int) -> tuple[list[str] | None, int, str]:
    """The record that starts on line i, read by the csv module: (its fields or None, how
    many lines it took, the csv module's error or "")."""
    reader = csv.reader(iter(lines[i:]), strict=True)
    try:
        return next(reader), reader.line_num, ""
    except csv.Error as exc:
        return None, reader.line_num, str(exc)


def read_csv(file: str, data: bytes) -> list[Row]:
    """The rows of one CSV file by the rules, keys not yet checked (see `mark_duplicates`).

    Each record is read by the csv module (strict: text after a closing quote and a quote
    open at the end of the file are errors) from its first line on; a record of several
    lines with another number of fields is one bad row, all its lines; where one never
    closes, reading starts again at the line after its first.
    """
    if data.startswith(BOM):
        data = data[len(BOM) :]
    lines = [line.decode("utf-8", errors="surrogateescape") for line in split_lines(data)]
    if not lines:
        return []
    header = next(csv.reader([lines[0]]))
    if sorted(header) != sorted(NAMES):
        raise ValueError(f"{file}: the generator writes the contract's columns, not {header}")
    rows: list[Row] = []
    overrun = 0  # the last line a broken record of several lines ran over
    i = 1
    while i < len(lines):
        if lines[i] in ("\n", "\r\n"):
            i += 1  # an empty line is not a row
            continue
        fields, taken, error = _read_record(lines, i)
        row = Row(file, i + 1)
        rows.append(row)
        if taken > 1 and not error and len(fields) != len(header):
            # a record of several lines that closes with another number of fields: one bad
            # row, all its lines (what was read inside its quotes is not read again)
            row.reason = f"record of several lines: {len(fields)} fields"
            i += taken
            continue
        if taken > 1 and error:
            if error.startswith("',' expected"):
                raise Ambiguous("text after a closing quote in a record of several lines")
            # a record of several lines that never closes: its first line is one bad row,
            # and reading goes on with the next line
            row.reason = f"record of several lines: {error}"
            overrun = max(overrun, i + taken - 1)
            i += 1
            continue
        if taken > 1 and i <= overrun:
            # the rules read the lines a broken record ran over "each as a row of its own"
            raise Ambiguous("a record of several lines inside lines a broken record ran over")
        i += taken
        try:
            if error:
                if error.startswith("',' expected") and lines[i - 1].count('"') != 2:
                    raise Ambiguous("text after a closing quote, and more quotes on the line")
                raise Bad(error)
            if len(fields) != len(header):
                raise Bad(f"{len(fields)} fields, expected {len(header)}")
            raw_text = "".join(lines[i - taken : i])
            try:
                raw = _csv_row_values(header, fields, _quoted(raw_text, fields))
            except Bad:
                if taken > 1:
                    raise Ambiguous("bytes not UTF-8 in a record of several lines") from None
                raise
            row.values = check_values(raw)
            row.text_has_crlf = taken > 1 and any("\r\n" in f for f in fields)
        except Bad as exc:
            row.reason = str(exc)
    return rows


# -- JSON lines -----------------------------------------------------------------------------
class _Number(str):
    """A JSON number as written in the file."""


def _no_constant(name: str):
    """NaN and Infinity, which Python's json reads but JSON does not have."""
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Ambiguous("a key given twice in one object")
    return dict(pairs)


def _json_value(name: str, value):
    """A JSON value as the raw value of a contract column (text or MISSING)."""
    ctype = CONTRACT[name]["type"]
    if value is None:
        return MISSING
    if isinstance(value, (dict, list)):
        raise Bad(f"column {name}: a JSON {type(value).__name__} is not a {ctype}")
    if isinstance(value, bool):
        raise Ambiguous("a JSON boolean")
    if isinstance(value, _Number) or ctype in ("string", "date", "datetime"):
        return str(value)
    # a JSON string for a number: bad if its text is not a number either, else undecided
    if value == "":
        if CONTRACT[name].get("nullable", True):
            raise Ambiguous("an empty JSON string for a number")
        raise Bad(f"column {name}: empty string for a {ctype}")
    try:
        typed(ctype, value)
    except Bad:
        raise Bad(f"column {name}: JSON string {value!r} for a {ctype}") from None
    raise Ambiguous("a JSON string that reads as a number")


def read_jsonl(file: str, data: bytes) -> list[Row]:
    """The rows of one JSON-lines file by the rules, keys not yet checked."""
    rows = []
    for number, raw in enumerate(split_lines(data), start=1):
        if not raw.strip(b" \t\r\n"):
            continue  # a blank line is not a row
        row = Row(file, number)
        rows.append(row)
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Bad("bytes that are not UTF-8") from None
            try:
                obj = json.loads(
                    text,
                    parse_int=_Number,
                    parse_float=_Number,
                    parse_constant=_no_constant,
                    object_pairs_hook=_no_duplicate_keys,
                )
            except ValueError:
                raise Bad("line is not JSON") from None
            if not isinstance(obj, dict):
                raise Bad("line is not a JSON object")
            values = {name: _json_value(name, obj[name]) for name in NAMES if name in obj}
            row.values = check_values(values)
        except Bad as exc:
            row.reason = str(exc)
    return rows


# -- a load ---------------------------------------------------------------------------------
def mark_duplicates(rows: list[Row]) -> None:
    """Rows of one day folder in file order: a key seen before among the rows that pass the
    other checks is quarantined, the first keeps it."""
    seen = {}
    for row in rows:
        if not row.ok:
            continue
        key = row.values[PRIMARY_KEY]
        if key in seen:
            row.reason = f"duplicate primary key (first at {seen[key]})"
            row.values = None
        else:
            seen[key] = f"{row.file} line {row.line}"


def expected_rows(files: dict[str, bytes], fmt: str) -> dict[str, list[Row]]:
    """The rows of a load of `files` (path relative to the project -> content), by file.

    Keys are unique per day folder, the first row in file order (files sorted by name, then
    line) keeping it.
    """
    reader = read_csv if fmt == "csv" else read_jsonl
    by_file = {path: reader(path, files[path]) for path in files}
    folders: dict[str, list[str]] = {}
    for path in files:
        folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    for paths in folders.values():
        mark_duplicates([row for p in sorted(paths) for row in by_file[p]])
    return by_file


def same_text(expected: str, got: str, crlf: bool) -> bool:
    """Text equal; a value that spans a CRLF line end may hold it as CRLF or as LF (the rules
    do not say which)."""
    return got == expected or (crlf and got == expected.replace("\r\n", "\n"))


# -- the generator ---------------------------------------------------------------------------
_WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yuzu"]
_UNICODE = ["héllo", "wörld ✓", "日本語", "smile 😀", "naïve café", "Ωmega"]
_BAD_UTF8 = [b"\xe9", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"]
_INT_LIMITS = [str(INT64_MAX), str(INT64_MIN)]
_INT_BAD = [
    str(INT64_MAX + 1),
    str(INT64_MIN - 1),
    "99999999999999999999",
    "1.0",
    "1e3",
    "0x1F",
    "12a",
    "- 5",
]
_AMOUNT_BAD = [
    "1.555",
    "0.001",
    "2.0000001",
    "12345678901",
    "-12345678901.5",
    "1e3",
    "abc",
    "1,5",
    "1.5.5",
    "--1",
]
_AMOUNT_BAD_JSON = ["1.555", "12345678901", "-12345678901.5", "1e3", "0.001", "2.0000001"]
_DAY_BAD = [
    "31/12/2024",
    "2024-02-30",
    "2023-02-29",
    "1900-02-29",
    "0001-01-01",
    "9999-12-31",
    "1899-12-31",
    "2300-01-01",
    "2024-1-5",
    "2024-13-01",
    "20240101",
    "2024-01-01T00:00",
    "yesterday",
]
_AT_BAD = [
    "2024-01-01 10:00:00.1234567",
    "2024-03-04T05:06:07.000000001Z",
    "2024-01-01",
    "2024-01-01 24:00",
    "2024-01-01 10:60",
    "2024-02-30 10:00",
    "1899-12-31 23:59:59.999999",
    "2300-01-01 00:00",
    "2024-01-01 10",
    "10:00",
    "soon",
]


@dataclass
class _Keys:
    """The ids of one day folder: mostly new, sometimes one given before (a duplicate),
    written in any of the ways an int64 may be written."""

    rng: random.Random
    next: int
    seen: list = field(default_factory=list)

    def pick(self, dup_rate: float) -> int:
        r = self.rng.random()
        if self.seen and r < dup_rate:
            return self.rng.choice(self.seen)
        if r < dup_rate + 0.01:
            number = self.rng.choice([INT64_MAX, INT64_MIN])
        else:
            number = self.next
            self.next += self.rng.randint(1, 3)
        self.seen.append(number)
        return number


def _spell_int(rng: random.Random, number: int, fmt: str) -> str:
    """An int64 in one of its valid spellings (JSON: a number as JSON writes it)."""
    text = str(number)
    if fmt == "jsonl":
        return text
    r = rng.random()
    if r < 0.06 and number >= 0:
        return "+" + text
    if r < 0.12:
        return text.replace("-", "-00") if number < 0 else "00" + text
    if r < 0.18:
        return " " + text + " "
    return text


def _random_day(rng: random.Random) -> dt.date:
    r = rng.random()
    if r < 0.04:
        return DAY_MIN
    if r < 0.08:
        return DAY_MAX
    if r < 0.1:
        return rng.choice([dt.date(2000, 2, 29), dt.date(2024, 2, 29)])
    if r < 0.2:  # anywhere in the range
        return DAY_MIN + dt.timedelta(days=rng.randrange((DAY_MAX - DAY_MIN).days + 1))
    return dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(15000))


def _amount(rng: random.Random, fmt: str) -> str:
    r = rng.random()
    if r < 0.05:
        return rng.choice(["9999999999.99", "-9999999999.99"])  # the largest that fit
    if r < 0.1:
        return rng.choice(["1.500", "0.10", "-0.00", "12", "7.0"])
    sign = "-" if rng.random() < 0.2 else ""
    text = f"{sign}{rng.randrange(100000)}.{rng.randrange(100):02d}"
    if fmt == "csv" and rng.random() < 0.1:
        text = rng.choice(["+", " "]) + text.lstrip("-") + rng.choice(["", " "])
    return text


def _datetime(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.04:
        return "2299-12-31 23:59:59.999999"
    if r < 0.08:
        return "1900-01-01T00:00:00Z"
    day = _random_day(rng)
    text = (
        f"{day.isoformat()}{rng.choice([' ', 'T'])}{rng.randrange(24):02d}:{rng.randrange(60):02d}"
    )
    if rng.random() < 0.8:
        text += f":{rng.randrange(60):02d}"
        if rng.random() < 0.6:
            digits = rng.randint(1, 6)
            text += "." + "".join(rng.choice("0123456789") for _ in range(digits))
    return text + ("Z" if rng.random() < 0.3 else "")


def _name(rng: random.Random, eol: bytes, quote_free: bool) -> str | None:
    """Any text: plain, with commas, quotes, line breaks (also empty lines), or none."""
    r = rng.random()
    if r < 0.08:
        return None
    word = rng.choice(_WORDS)
    if quote_free:
        plain = [word, rng.choice(_UNICODE), f"  {word}  ", "NULL", "\\N", "null", f"{word} x2"]
        return rng.choice(plain)
    nl = eol.decode()
    choices = [
        word,
        rng.choice(_UNICODE),
        f"{word}, {rng.choice(_WORDS)}",
        f'say "{word}"',
        f'{word}"s',
        f'5"10 {word}',
        f' "{word}"',
        "",
        f"  {word}  ",
        "NULL",
        "\\N",
        f"{word}{nl}second line",
        f"{word}{nl}{nl}after an empty line,{nl}and a comma",
        f'"{word}"{nl}quoted',
        '"',
        ",",
    ]
    return rng.choice(choices)


def _tag(rng: random.Random, quote_free: bool) -> str | None:
    r = rng.random()
    if r < 0.08 and not quote_free:
        return ""  # the empty text: a value, not a missing one
    if r < 0.14:
        return "  "
    return rng.choice(["A", "BB", "c-3", "ü", "x y", "tag"]) + str(rng.randrange(10))


def _values(rng, keys: _Keys, fmt: str, dirty: bool, eol: bytes, quote_free: bool) -> dict:
    """One row's values as text (None: missing), some of them wrong when `dirty`."""
    bad = (lambda: rng.random() < 0.04) if dirty else (lambda: False)
    number = _spell_int(rng, keys.pick(0.06 if dirty else 0.0), fmt)
    row = {
        "id": number,
        "name": _name(rng, eol, quote_free) if fmt == "csv" else _json_name(rng),
        "amount": _amount(rng, fmt) if rng.random() < 0.9 else None,
        "day": _random_day(rng).isoformat(),
        "at": _datetime(rng) if rng.random() < 0.9 else None,
        "qty": _spell_int(rng, rng.randrange(-1000, 1000), fmt) if rng.random() < 0.85 else None,
        "tag": _tag(rng, quote_free),
    }
    if fmt == "csv" and rng.random() < 0.03:
        row["day"] = " " + row["day"] + " "
    if rng.random() < 0.05:
        row["qty"] = rng.choice(_INT_LIMITS)
    if bad():
        row["id"] = rng.choice([*_INT_BAD, None] if fmt == "csv" else [None, *_INT_BAD[:5]])
    if bad():
        row["amount"] = rng.choice(_AMOUNT_BAD if fmt == "csv" else _AMOUNT_BAD_JSON)
    if bad():
        row["day"] = rng.choice([*_DAY_BAD, None])
    if bad():
        row["at"] = rng.choice(_AT_BAD)
    if bad():
        row["qty"] = rng.choice(_INT_BAD if fmt == "csv" else _INT_BAD[:5])
    if bad():
        row["tag"] = None
    if quote_free:
        row = {k: v if v is None or "," not in v else v.replace(",", ";") for k, v in row.items()}
    return row


def _plain_values(rng, keys: _Keys) -> dict:
    """One row of the plainest valid values, as a file written by a careful program holds:
    the kind of file the engine reads itself under `landing: none`."""
    day = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(15000))
    clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    return {
        "id": str(keys.pick(0.0)),
        "name": rng.choice([rng.choice(_WORDS), f"{rng.choice(_WORDS)}, {rng.choice(_WORDS)}"]),
        "amount": f"{rng.randrange(100000)}.{rng.randrange(100):02d}",
        "day": day.isoformat(),
        "at": f"{day.isoformat()} {clock}" + rng.choice(["", f".{rng.randrange(1000):03d}"]),
        "qty": str(rng.randrange(-1000, 1000)) if rng.random() < 0.9 else None,
        "tag": rng.choice(_WORDS),
    }


def _cell(rng: random.Random, value: str | None, quote_free: bool) -> bytes:
    """A CSV field: quoted when it must be (and now and then when it need not be)."""
    if value is None:
        return b""
    must = value == "" or value.startswith('"') or any(c in value for c in ",\r\n")
    if not quote_free and (must or rng.random() < 0.1):
        return b'"' + value.replace('"', '""').encode() + b'"'
    return value.encode()


def _csv_record(
    rng, keys: _Keys, order: list[str], eol: bytes, dirty: bool, damage: str, quote_free: bool
) -> bytes:
    """One CSV record (its line ends inside quoted values included), damaged as asked.

    `quote_free`: no `"` anywhere in it (after a quote left open, one more would close it).
    """
    quote_free = quote_free or damage in ("unclosed", "junk", "broken_multiline", "last_unclosed")
    row = _values(rng, keys, "csv", dirty, eol, quote_free)
    if damage == "bad_utf8" and row["name"] and "\n" in row["name"]:
        row["name"] = "one line"  # the rules do not say how such a record of lines reads
    cells = [_cell(rng, row[n], quote_free) for n in order]
    where = rng.randrange(len(cells))
    if damage == "broken_multiline":  # a record of two lines with a field too many or few
        cells[order.index("name")] = b'"first' + eol + b'second"'
        others = [k for k, n in enumerate(order) if n != "name"]
        if rng.random() < 0.5:
            del cells[rng.choice(others)]
        else:
            cells.insert(rng.randrange(len(cells) + 1), b"extra")
    elif damage == "unclosed":
        cells[where] = b'"' + cells[where] + b" never closed"
    elif damage == "last_unclosed":
        cells[-1] = b'"' + cells[-1] + b" and no closing quote"
    elif damage == "junk":
        cells[where] = b'"' + cells[where] + b'"' + rng.choice([b"x", b" ", b"junk"])
    elif damage == "extra_field":
        extra = [b"", b"surplus"] if quote_free else [b"", b"surplus", b'"quoted"']
        cells.insert(rng.randrange(len(cells) + 1), rng.choice(extra))
    elif damage == "missing_field":
        del cells[where]
    elif damage == "bad_utf8":
        k = rng.randrange(len(cells))
        cut = rng.randrange(len(cells[k]) + 1)
        if cells[k].startswith(b'"'):
            cut = max(1, min(cut, len(cells[k]) - 1))
        cells[k] = cells[k][:cut] + rng.choice(_BAD_UTF8) + cells[k][cut:]
    return b",".join(cells)


_CSV_DAMAGE = [
    ("", 0.76),
    ("extra_field", 0.035),
    ("missing_field", 0.035),
    ("bad_utf8", 0.04),
    ("junk", 0.025),
    ("broken_multiline", 0.025),
    ("spaces_line", 0.01),
    ("unclosed", 0.01),
    ("blank", 0.06),
]


def _weighted(rng: random.Random, table) -> str:
    r, total = rng.random(), 0.0
    for name, weight in table:
        total += weight
        if r < total:
            return name
    return table[0][0]


def csv_file(rng: random.Random, keys: _Keys, style: str) -> bytes:
    """A CSV file of the contract: BOM, CRLF, column order, blank lines and last line end
    chosen at random. `style`: plain (the plainest valid values only), clean (valid values
    written in all the ways the rules allow) or dirty (clean, with damaged rows and wrong
    values among the good ones)."""
    dirty = style == "dirty"
    eol = b"\r\n" if rng.random() < 0.3 else b"\n"
    order = list(NAMES)
    if rng.random() < 0.2:
        rng.shuffle(order)
    parts = [BOM if rng.random() < 0.15 else b"", ",".join(order).encode()]
    if style == "plain":
        for _ in range(rng.randint(3, 30)):
            row = _plain_values(rng, keys)
            parts.append(eol + b",".join(_cell(rng, row[n], False) for n in order))
        return b"".join(parts) + (eol if rng.random() < 0.8 else b"")
    mixed = rng.random() < 0.05
    n = 0 if rng.random() < 0.03 else rng.randint(3, 30)
    quote_free = False  # a quote was left open: it must stay open to the end of the file
    open_at_end = dirty and rng.random() < 0.12  # the last line's quote never closes
    for k in range(n):
        line_end = rng.choice([b"\n", b"\r\n"]) if mixed else eol
        damage = _weighted(rng, _CSV_DAMAGE) if dirty else ("blank" if rng.random() < 0.04 else "")
        if damage == "blank":
            parts.append(line_end)  # an empty line, then a row
            damage = ""
        if damage == "spaces_line":
            parts.append(line_end + b"   ")
            continue
        if k == n - 1 and (open_at_end or damage == "unclosed"):
            damage = "last_unclosed"
        if quote_free and damage in ("unclosed", "last_unclosed", "junk", "broken_multiline"):
            damage = ""
        record = _csv_record(rng, keys, order, line_end, dirty, damage, quote_free)
        quote_free = quote_free or damage == "unclosed"
        parts.append(line_end + record)
    if n and rng.random() < 0.1:
        parts.append(eol * rng.randint(1, 3))  # empty lines at the end
    if rng.random() < 0.8:
        parts.append(eol)
    return b"".join(parts)


def _json_name(rng: random.Random) -> str | None:
    return rng.choice([None, "", rng.choice(_WORDS), rng.choice(_UNICODE), 'a "quoted"\nvalue'])


def _json_token(name: str, value, rng: random.Random) -> str:
    """A value as JSON text: numbers for int64 and decimal columns, strings for the rest."""
    if value is None:
        return "null"
    ctype = CONTRACT[name]["type"]
    if ctype == "int64" or ctype.startswith("decimal"):
        return value
    return json.dumps(value, ensure_ascii=rng.random() < 0.3)


_JSON_NOT_OBJECTS = ["[1, 2]", '"text"', "42", "null", '{"id": 1', '{"id": 2}}', "not json", "{}x"]
_JSON_NAME_ODD = ["1.50", "-0", "1e3", "12345678901234567890", "0.10", "[1, 2]", '{"a": 1}', "[]"]


def jsonl_file(rng: random.Random, keys: _Keys, style: str) -> bytes:
    """A JSON-lines file of the contract: key order, spacing, absent keys, blank lines, CRLF
    and last line end at random; `style` dirty adds lines that are not objects, bytes that
    are not UTF-8 and wrong values among good ones (plain is clean here: no engine path)."""
    dirty = style == "dirty"
    eol = b"\r\n" if rng.random() < 0.25 else b"\n"
    lines: list[bytes] = []
    for _ in range(rng.randint(3, 30)):
        r = rng.random()
        if r < 0.05:
            lines.append(rng.choice([b"", b"   ", b"\t"]))  # blank: not a row
        if dirty and r > 0.96:
            lines.append(rng.choice(_JSON_NOT_OBJECTS).encode())
            continue
        row = _values(rng, keys, "jsonl", dirty, eol, quote_free=False)
        names = list(NAMES)
        rng.shuffle(names)
        comma, colon = rng.choice([", ", ","]), rng.choice([": ", ":"])
        items = []
        odd_name = dirty and rng.random() < 0.05
        for name in names:
            value = row[name]
            if value is None and rng.random() < 0.5:
                continue  # an absent key is a missing value, as null is
            token = _json_token(name, value, rng)
            if name == "name" and (odd_name or rng.random() < 0.04):
                token = rng.choice(_JSON_NAME_ODD)
            items.append(f'"{name}"{colon}{token}')
        line = ("{" + comma.join(items) + "}").encode()
        if dirty and rng.random() < 0.03:
            at = line.find(b'"', line.find(b'"name"') + 7) if b'"name"' in line else -1
            at = at + 1 if at > 0 else 2
            line = line[:at] + rng.choice(_BAD_UTF8) + line[at:]
        lines.append(line)
    text = eol.join(lines)
    return text + (eol if rng.random() < 0.8 else b"")


def generate(seed: int, fmt: str, days: list[str], files_per_day: int) -> dict[str, bytes]:
    """A load's files (path relative to the project -> content) from a seed: `files_per_day`
    files in each day folder, most of them damaged, the others clean or plain (see
    `csv_file`)."""
    rng = random.Random(seed)
    ext = "csv" if fmt == "csv" else "jsonl"
    make = csv_file if fmt == "csv" else jsonl_file
    reader = read_csv if fmt == "csv" else read_jsonl
    files = {}
    for day in days:
        keys = _Keys(rng, rng.randrange(1, 10_000))
        for k in range(files_per_day):
            path = f"data/feed/date={day}/part-{k:03d}.{ext}"
            style = _weighted(rng, [("dirty", 0.6), ("clean", 0.25), ("plain", 0.15)])
            for _ in range(50):
                data = make(rng, keys, style)
                try:
                    reader(path, data)
                except Ambiguous:
                    continue
                files[path] = data
                break
            else:
                raise RuntimeError(f"seed {seed}: no file the rules decide for {path}")
    return files
