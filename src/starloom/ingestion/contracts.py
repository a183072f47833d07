"""Data contracts: declared column types and rules, checked on each partition.

A contract maps column names to rules. `validate` splits a partition into rows that keep
the contract (typed, as an Arrow table ready to load) and rows that break it, each with the
reason, so that rows in = rows loaded + rows quarantined.

A value is never changed on the way in: text is parsed by strict rules (an integer is
digits in the int64 range, a decimal fits its scale exactly, a date is YYYY-MM-DD or the
column's declared `format` and a real day, a timestamp keeps its fraction of a second up to
the column's precision), and whatever does not parse exactly breaks the row. Everything is
positional: a partition's index is ignored, so rows dropped earlier (broken lines) can never
move a value into another row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from starloom.errors import ContractError

TYPES = ("int64", "float64", "decimal(P,S)", "string", "bool", "datetime", "datetime(P)", "date")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_DATETIME = re.compile(r"^datetime(?:\((\d)\))?$")
DEFAULT_DATETIME_PRECISION = 6  # microseconds: what text sources and most databases hold
DATE_MIN, DATE_MAX = dt.date(1900, 1, 1), dt.date(2299, 12, 31)  # Date32 and DateTime64
RANGE_TEXT = "1900-01-01..2299-12-31"
_UNITS = {0: "s", 1: "ms", 2: "ms", 3: "ms", 4: "us", 5: "us", 6: "us"}
_UNITS.update({7: "ns", 8: "ns", 9: "ns"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    accepted_values: tuple | None = None
    min: object = None
    max: object = None
    max_length: int | None = None
    pattern: str | None = None
    description: str = ""
    unique: bool = False
    format: str | None = None  # date/datetime: a strptime format the text is written in
    null_values: tuple[str, ...] = ()  # texts that mean a missing value

    @property
    def decimal(self) -> tuple[int, int] | None:
        m = _DECIMAL.match(self.type)
        return (int(m.group(1)), int(m.group(2))) if m else None

    @property
    def precision(self) -> int | None:
        """Digits of a second kept by a datetime column (None for other types)."""
        m = _DATETIME.match(self.type)
        if not m:
            return None
        return int(m.group(1)) if m.group(1) else DEFAULT_DATETIME_PRECISION

    @property
    def kind(self) -> str:
        """The type without its parameters: int64, float64, decimal, string, bool, ..."""
        return (
            "decimal" if self.decimal else "datetime" if self.precision is not None else self.type
        )

    def clickhouse_type(self) -> str:
        dec, prec = self.decimal, self.precision
        if dec:
            base = f"Decimal({dec[0]}, {dec[1]})"
        elif prec is not None:
            base = f"DateTime64({prec}, 'UTC')"
        else:
            base = {
                "int64": "Int64",
                "float64": "Float64",
                "string": "String",
                "bool": "Bool",
                "date": "Date32",
            }[self.type]
        return f"Nullable({base})" if self.nullable else base

    def arrow_type(self) -> pa.DataType:
        dec, prec = self.decimal, self.precision
        if dec:
            return pa.decimal128(*dec)
        if prec is not None:
            return pa.timestamp(_UNITS[prec], tz="UTC")
        return {
            "int64": pa.int64(),
            "float64": pa.float64(),
            "string": pa.string(),
            "bool": pa.bool_(),
            "date": pa.date32(),
        }[self.type]


@dataclass(frozen=True)
class Contract:
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    extra_columns: str = "ignore"  # ignore | fail
    meta: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def unique_columns(self) -> list[str]:
        """Columns declared `unique` (besides the primary key)."""
        return [c.name for c in self.columns if c.unique]

    @property
    def schema_version(self) -> str:
        """A short hash of the column names and warehouse types, recorded with each load."""
        text = ";".join(f"{c.name}:{c.clickhouse_type()}" for c in self.columns)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(
        cls,
        spec: dict,
        where: str,
        primary_key=(),
        extra_columns: str = "ignore",
        null_values=(),
    ) -> Contract:
        """The contract of a table's `columns` mapping; `null_values` are the table's
        markers of a missing value, which a column's own `null_values` replace."""
        cols = []
        for name, rules in (spec or {}).items():
            rules = rules or {}
            cols.append(_column(str(name), rules, f"{where} column {name!r}", primary_key))
            if rules.get("null_values") is None and null_values:
                cols[-1] = _replace(cols[-1], null_values=tuple(str(v) for v in null_values))
        if not cols:
            raise ContractError(f"{where}: the contract declares no columns.")
        pk = tuple(primary_key or ())
        missing = [k for k in pk if k not in {c.name for c in cols}]
        if missing:
            raise ContractError(
                f"{where}: primary key column(s) {missing} are not in the contract."
            )
        if extra_columns not in ("ignore", "fail"):
            raise ContractError(
                f"{where}: `extra_columns` must be ignore or fail, not {extra_columns!r}."
            )
        return cls(columns=tuple(cols), primary_key=pk, extra_columns=extra_columns)

    def arrow_schema(self, extra: list[tuple[str, pa.DataType]] = ()) -> pa.Schema:
        return pa.schema([(c.name, c.arrow_type()) for c in self.columns] + list(extra))


def _replace(col: Column, **changes) -> Column:
    return replace(col, **changes)


def _column(name: str, rules: dict, where: str, primary_key) -> Column:
    """One column's rules, checked where they are declared."""
    ctype = str(rules.get("type", "string")).strip()
    dec, dtm = _DECIMAL.match(ctype), _DATETIME.match(ctype)
    if ctype not in TYPES and not dec and not dtm:
        raise ContractError(
            f"{where} has type {ctype!r}; use one of int64, float64, decimal(P,S), string, "
            "bool, date, datetime (microseconds) or datetime(P) with P digits of a second (0-9)."
        )
    if dec and not (1 <= int(dec.group(1)) <= 38 and int(dec.group(2)) <= int(dec.group(1))):
        raise ContractError(f"{where}: {ctype} needs 1 <= P <= 38 and S <= P.")
    col = Column(
        name=name,
        type=ctype,
        nullable=bool(rules.get("nullable", True)) and name not in (primary_key or ()),
        accepted_values=tuple(rules["accepted_values"]) if rules.get("accepted_values") else None,
        max_length=int(rules["max_length"]) if rules.get("max_length") else None,
        pattern=str(rules["pattern"]) if rules.get("pattern") else None,
        description=str(rules.get("description", "")),
        unique=bool(rules.get("unique", False)),
        format=str(rules["format"]) if rules.get("format") else None,
        null_values=tuple(str(v) for v in rules.get("null_values") or ()),
    )
    if col.format and col.kind not in ("date", "datetime"):
        raise ContractError(f"{where}: `format` is for date and datetime columns only.")
    if col.format:
        _check_format(col.format, where)
    if col.pattern:
        try:
            re.compile(col.pattern)
        except re.error as exc:
            raise ContractError(f"{where} has an invalid pattern: {exc}.") from None
    bounds = {}
    for key in ("min", "max"):
        if rules.get(key) is not None:
            bounds[key] = _bound(col, rules[key], f"{where} `{key}`")
    return _replace(col, **bounds)


def with_article(word: str) -> str:
    """`word` after its article: "an int64", "a date" (the contract's types, and Python's
    that a source may give, that start with a vowel are read with it: int64, object)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _bound(col: Column, value, where: str):
    """A min or max as a value of the column's type (dates as dates, numbers as numbers)."""
    kind = col.kind
    if kind in ("date", "datetime"):
        text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
        if kind == "datetime" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            text += " 00:00:00"
        typed = _parse_text(_replace(col, format=None), pa.array([text], pa.string()))[0]
        if not typed.is_valid:
            raise ContractError(
                f"{where}: {value!r} is not {with_article(col.type)} (write YYYY-MM-DD)."
            )
        return typed.as_py()
    if kind in ("int64", "float64", "decimal") and not isinstance(value, bool):
        try:
            return decimal.Decimal(str(value)) if kind == "decimal" else float(value)
        except (ValueError, decimal.InvalidOperation):
            pass
    raise ContractError(f"{where}: {value!r} cannot bound {with_article(col.type)} column.")


# -- values to Arrow ----------------------------------------------------------------------
class _Broken:
    """Reasons found per row while typing one column (row -> text)."""

    def __init__(self, n: int):
        self.mask = np.zeros(n, dtype=bool)
        self.text = np.full(n, None, dtype=object)

    def add(self, mask: np.ndarray, text) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.mask
        if mask.any():
            self.text[mask] = text if isinstance(text, str) else np.asarray(text, object)[mask]
            self.mask |= mask


def _as_text(value) -> tuple[str | None, str | None]:
    """(text, problem) of one value of a mixed column, as its source wrote it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None, None
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool | np.bool_):
        return ("true" if value else "false"), None
    if isinstance(value, int | np.integer):
        return str(int(value)), None
    if isinstance(value, float | np.floating):
        return (None, None) if np.isnan(value) else (repr(float(value)), None)
    if isinstance(value, decimal.Decimal):
        return format(value, "f"), None
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.isoformat(sep=" "), None
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError:
            return None, "bytes that are not UTF-8"
    if isinstance(value, dict):
        return None, "a JSON object, not a single value"
    if isinstance(value, list | tuple):
        return None, "a JSON array, not a single value"
    return None, f"{with_article(type(value).__name__)}, not a single value"


def _to_arrow(raw: pd.Series, broken: _Broken, name: str) -> pa.Array:
    """The column as an Arrow array: typed as the source typed it, or text."""
    if raw.dtype != object:
        try:
            arr = pa.array(raw, from_pandas=True)
            return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    values = raw.to_numpy(dtype=object)
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    texts, problems = zip(*map(_as_text, values)) if len(values) else ((), ())
    problems = np.asarray(problems, dtype=object)
    has = np.asarray([p is not None for p in problems], dtype=bool)
    if has.any():
        broken.add(has, np.where(has, f"column {name}: " + problems.astype(str), None))
    return pa.array(list(texts), type=pa.string())


def _cast_each(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """`arr` cast to `target`, a value that does not convert exactly becoming null.
    One cast when every value converts (the usual case); else halves, down to the values
    that do not (so a few bad values among many cost a few casts, not one per value)."""
    try:
        return pc.cast(arr, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        if len(arr) <= 1:
            return pa.nulls(len(arr), target)
    half = len(arr) // 2
    parts = [_cast_each(arr.slice(0, half), target), _cast_each(arr.slice(half), target)]
    return pa.concat_arrays(parts)


def _matches(arr: pa.Array, regex: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(arr, regex), False).to_numpy(zero_copy_only=False)


_INT = r"^[+-]?[0-9]+$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_PLAIN_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# YYYY-MM-DD[ HH:MM[:SS[.fraction]]] with an optional Z or offset
_TIMESTAMP = (  # a date alone is its midnight
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False}


def _parse_text(col: Column, text: pa.Array) -> pa.Array:
    """Trimmed, non-empty text of a non-string column parsed to its type; null where the
    text is not exactly a value of the type (the caller names those rows)."""
    kind = col.kind
    if kind == "int64":
        ok = _matches(text, _INT)
        digits = pc.replace_substring_regex(text, r"^\+", "")
        return _cast_each(pc.if_else(pa.array(ok), digits, None), pa.int64())
    if kind == "float64":  # a number past the largest float would be read as infinity
        return _finite(
            _cast_each(pc.if_else(pa.array(_matches(text, _NUMBER)), text, None), pa.float64())
        )
    if kind == "decimal":
        ok = pa.array(_matches(text, _PLAIN_DECIMAL))
        return _cast_each(pc.if_else(ok, text, None), col.arrow_type())
    if kind == "bool":
        lowered = pc.utf8_lower(text)
        known = pc.is_in(lowered, pa.array(list(_BOOLS)))
        truth = pc.is_in(lowered, pa.array([k for k, v in _BOOLS.items() if v]))
        return pc.if_else(known, truth, None)
    if kind == "date":
        if col.format:
            return pc.cast(_strptime_exact(text, col.format, "s"), pa.date32())
        return _cast_each(pc.if_else(pa.array(_matches(text, _DATE)), text, None), pa.date32())
    if kind == "datetime":
        unit = col.arrow_type().unit
        if col.format:
            return pc.assume_timezone(_strptime_exact(text, col.format, unit), "UTC")
        ok = _matches(text, _TIMESTAMP)
        fraction = pc.utf8_length(pc.extract_regex(text, r"\.(?P<f>[0-9]+)").field("f"))
        fine = pc.fill_null(pc.less_equal(fraction, col.precision), True).to_numpy(
            zero_copy_only=False
        )
        zoned = _matches(text, r"(Z|[+-][0-9]{2}:?[0-9]{2})$")
        naive = _cast_each(pc.if_else(pa.array(ok & fine & ~zoned), text, None), pa.timestamp(unit))
        aware = _cast_each(
            pc.if_else(pa.array(ok & fine & zoned), text, None), pa.timestamp(unit, tz="UTC")
        )
        return pc.if_else(pa.array(zoned), aware, pc.assume_timezone(naive, "UTC"))
    raise AssertionError(kind)


def _finite(floats: pa.Array) -> pa.Array:
    """Floats with each infinity null (refused): a float64 column holds finite numbers, as
    its text does (`inf` is not one, nor `1e400`, which a parse reads as infinity)."""
    return pc.if_else(pc.fill_null(pc.is_inf(floats), False), None, floats)


def _strptime_exact(text: pa.Array, fmt: str, unit: str) -> pa.Array:
    """Text parsed with a strptime format, kept only where writing the value back in that
    format gives the text again (strptime alone moves 31/02 to 02/03). A number without
    its leading zero (`%-m`, `%-d`, `%-H`...) is read as strptime reads `%m`, and written
    back by Python's strftime, once per distinct value (Arrow's does not know `%-`)."""
    stamps = pc.strptime(text, format=fmt.replace("%-", "%"), unit=unit, error_is_null=True)
    if "%-" in fmt:
        unique = pc.unique(stamps)
        written = pa.array(
            [None if v is None else v.strftime(fmt) for v in unique.to_pylist()], pa.string()
        )
        again = pc.take(written, pc.index_in(stamps, unique))
    else:
        again = pc.strftime(stamps, format=fmt)
    same = pc.fill_null(pc.equal(again, text), False)
    return pc.if_else(same, stamps, pa.scalar(None, stamps.type))


def _check_format(fmt: str, where: str) -> None:
    """A date or datetime `format` must be a strptime format that reads back what it writes."""
    sample = dt.datetime(2001, 12, 23, 14, 5, 6)
    try:
        if "%" not in fmt:
            raise ValueError("it has no directive such as %Y")
        written, padded = sample.strftime(fmt), fmt.replace("%-", "%")
        dt.datetime.strptime(written, padded)
        read = pc.strptime(pa.array([written]), format=padded, unit="us", error_is_null=True)
        if not read[0].is_valid:  # the reader's own strptime: no %f, no %z
            raise ValueError(f"the reader cannot read {written!r} with it")
    except (ValueError, pa.ArrowInvalid) as exc:
        raise ContractError(
            f"{where}: `format` {fmt!r} is not a strptime format ({exc}). Write it with "
            "directives such as %Y %m %d %H %M %S (%-m, %-d, %-H for numbers without a "
            "leading zero), for example '%d/%m/%Y' or '%-m/%-d/%Y %-H:%M'."
        ) from None


def _from_typed(col: Column, arr: pa.Array) -> pa.Array:
    """A value the source typed itself (Parquet, a database driver) in the column's type;
    null where it does not convert exactly."""
    kind, t = col.kind, arr.type
    target = col.arrow_type()
    if kind == "string":
        return None if pa.types.is_nested(t) else pc.cast(arr, pa.string())
    if kind == "bool" and pa.types.is_integer(t):  # 0 and 1, as databases write a flag
        return _parse_text(col, pc.cast(arr, pa.string()))
    if kind == "bool":
        return arr if pa.types.is_boolean(t) else None
    if kind == "decimal" and pa.types.is_integer(t):
        return _parse_text(col, pc.cast(arr, pa.string()))
    if kind in ("int64", "float64", "decimal") and (
        pa.types.is_integer(t) or pa.types.is_decimal(t)
    ):
        return _cast_each(arr, target)
    if kind in ("int64", "decimal") and pa.types.is_floating(t):
        # through the shortest text of each float: 19.99 is 19.99, 1e20 no int64
        text = pc.cast(arr, pa.string())
        return _parse_text(col, text)
    if kind == "float64" and pa.types.is_floating(t):
        return _finite(pc.cast(arr, pa.float64()))
    if kind == "date" and pa.types.is_timestamp(t):  # a whole day only, in UTC
        naive = pc.cast(arr, pa.timestamp(t.unit))
        day = pc.cast(naive, pa.date32())
        return pc.if_else(pc.equal(pc.cast(day, pa.timestamp(t.unit)), naive), day, None)
    if kind == "date" and pa.types.is_date(t):
        return pc.cast(arr, pa.date32())
    if kind == "datetime" and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        if pa.types.is_date(t):
            arr = pc.cast(arr, pa.timestamp("s"))
        if arr.type.tz is None:
            arr = pc.assume_timezone(arr, "UTC")
        return _cast_each(pc.cast(arr, pa.timestamp(arr.type.unit, tz="UTC")), target)
    return None


def _typed(col: Column, raw: pd.Series, broken: _Broken) -> tuple[pa.Array, np.ndarray]:
    """(the column typed, the rows where a value is given) for one partition."""
    n = len(raw)
    arr = _to_arrow(raw, broken, col.name)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        text = arr.cast(pa.string())
        if col.null_values:
            text = pc.if_else(pc.is_in(text, pa.array(col.null_values)), None, text)
        trimmed = pc.utf8_trim_whitespace(text)
        blank = pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False)
        present = ~blank
        if col.kind == "string":
            return text, present
        typed = _parse_text(col, pc.if_else(pa.array(present), trimmed, None))
    else:
        present = ~pc.is_null(arr).to_numpy(zero_copy_only=False)
        if pa.types.is_floating(arr.type):
            present &= ~pc.fill_null(pc.is_nan(arr), False).to_numpy(zero_copy_only=False)
            arr = pc.if_else(pa.array(present), arr, None)
        typed = _from_typed(col, arr)
        if typed is None:
            typed = pa.nulls(n, col.arrow_type())
    wrong = present & pc.is_null(typed).to_numpy(zero_copy_only=False)
    if wrong.any():
        shown = _shown(raw)
        if col.kind in ("decimal", "float64"):  # a number, but too many digits or too large
            shape = _PLAIN_DECIMAL if col.kind == "decimal" else _NUMBER
            number = _matches(pc.utf8_trim_whitespace(arr.cast(pa.string())), shape)
            broken.add(
                wrong & number,
                np.where(wrong, f"column {col.name}: does not fit {col.type}: " + shown, None),
            )
        written = f" written {col.format}" if col.format else ""
        reason = f"column {col.name}: not {with_article(col.type)}{written}: "
        broken.add(wrong, np.where(wrong, reason + shown, None))
    return typed, present


def _shown(raw: pd.Series) -> np.ndarray:
    """Each value as text for a reason, cut to 60 characters."""
    return np.asarray([str(v)[:60] for v in raw.to_numpy(dtype=object)], dtype=object)


def _rules(col: Column, typed: pa.Array, raw: pd.Series, flag) -> None:
    """The column's rules on its typed values (a null value breaks no rule but nullable)."""
    kind = col.kind

    def where(expr) -> np.ndarray:
        return pc.fill_null(expr, False).to_numpy(zero_copy_only=False)

    if kind in ("date", "datetime"):
        day = pc.cast(typed, pa.date32()) if kind == "datetime" else typed
        outside = pc.or_(
            pc.less(day, pa.scalar(DATE_MIN, pa.date32())),
            pc.greater(day, pa.scalar(DATE_MAX, pa.date32())),
        )
        flag(
            where(outside), lambda: f"column {col.name}: out of range {RANGE_TEXT}: " + _shown(raw)
        )
    if col.accepted_values is not None:
        allowed = pa.array(list(col.accepted_values))
        try:
            allowed = allowed.cast(typed.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        outside = pc.and_(pc.is_valid(typed), pc.invert(pc.is_in(typed, allowed)))
        flag(
            where(outside),
            lambda: f"column {col.name}: not one of {list(col.accepted_values)}: " + _shown(raw),
        )
    for bound, op, word in (
        (col.min, pc.less, "below minimum"),
        (col.max, pc.greater, "above maximum"),
    ):
        if bound is None:
            continue
        scalar = pa.scalar(bound, typed.type) if kind in ("date", "datetime", "decimal") else bound
        shown = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        flag(where(op(typed, scalar)), f"column {col.name}: {word} {shown}")
    if col.max_length is not None or col.pattern:
        text = typed if kind == "string" else pc.cast(typed, pa.string())
    if col.max_length is not None:
        flag(
            where(pc.greater(pc.utf8_length(text), col.max_length)),
            f"column {col.name}: longer than {col.max_length} characters",
        )
    if col.pattern:
        flag(
            where(pc.invert(pc.match_substring_regex(text, f"^(?:{col.pattern})$"))),
            f"column {col.name}: does not match {col.pattern}",
        )


@dataclass
class Checked:
    """A partition checked: its good rows typed, which rows they were, and the bad rows."""

    table: pa.Table  # the good rows in the contract's schema
    good: np.ndarray  # bool per input row
    bad: pd.DataFrame  # the bad input rows (positional index) with `_reason`


def validate(df: pd.DataFrame, contract: Contract, *, check_keys: bool = True) -> Checked:
    """Split a partition into its good rows (typed) and its bad rows, each with a reason.

    A contract column absent from the partition is a missing value on every row (a reader
    decides beforehand whether a file may lack it). `check_keys`: a repeated primary key
    breaks the later rows (file loads check keys across the whole load instead, in the
    warehouse). A column `_reason_pre` holds reasons found while reading (e.g. bytes that
    are not UTF-8); such a row is bad for that reason alone.
    """
    df = df.reset_index(drop=True)  # positions only: no value can follow a label elsewhere
    n = len(df)
    reasons = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, text) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if callable(text):
            text = text()
        new = text if isinstance(text, str) else np.asarray(text, dtype=object)[mask]
        old = reasons[mask]
        reasons[mask] = np.where(old == "", new, old + "; " + new)

    if contract.extra_columns == "fail":
        for name in df.columns:
            if not name.startswith("_") and name not in contract.names:
                flag(df[name].notna().to_numpy(), f"unexpected column {name} (extra_columns: fail)")
    arrays = []
    for col in contract.columns:
        raw = df[col.name] if col.name in df.columns else pd.Series([None] * n, dtype=object)
        broken = _Broken(n)
        typed, present = _typed(col, raw, broken)
        flag(broken.mask, broken.text)
        if not col.nullable:
            flag(~present & ~broken.mask, f"column {col.name}: missing value (not nullable)")
        _rules(col, typed, raw, flag)
        arrays.append(typed)
    if check_keys and contract.primary_key and n:
        # only rows that keep the rest of the contract hold a key: a bad row claims none
        clean = np.flatnonzero(reasons == "")
        keys = pa.table({k: arrays[contract.names.index(k)] for k in contract.primary_key})
        dup = np.zeros(n, dtype=bool)
        dup[clean] = keys.take(pa.array(clean)).to_pandas().duplicated(keep="first").to_numpy()
        flag(dup, "duplicate primary key " + ", ".join(contract.primary_key))
    if "_reason_pre" in df:  # a row broken on reading: its other checks say nothing more
        pre = df["_reason_pre"].notna().to_numpy()
        reasons[pre] = df["_reason_pre"].to_numpy(dtype=object)[pre]
    good = reasons == ""
    mask = pa.array(good)
    table = pa.Table.from_arrays([a.filter(mask) for a in arrays], schema=contract.arrow_schema())
    bad = df[~good].copy()
    bad["_reason"] = reasons[~good]
    return Checked(table=table, good=good, bad=bad)
