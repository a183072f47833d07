"""Data contracts: declared column types and rules, checked on each partition with pandas.

A contract maps column names to rules. `validate` splits a partition into rows that keep
the contract (typed, ready to load) and rows that break it, each with the reason, so that
rows in = rows loaded + rows quarantined.
"""

from __future__ import annotations

import decimal
import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from starloom.errors import ContractError

TYPES = ("int64", "float64", "decimal", "string", "bool", "datetime", "date")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    accepted_values: tuple | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    description: str = ""

    @property
    def decimal(self) -> tuple[int, int] | None:
        m = _DECIMAL.match(self.type)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def clickhouse_type(self) -> str:
        dec = self.decimal
        base = {
            "int64": "Int64",
            "float64": "Float64",
            "string": "String",
            "bool": "Bool",
            "datetime": "DateTime64(3, 'UTC')",
            "date": "Date32",
        }.get(self.type) or f"Decimal({dec[0]}, {dec[1]})"
        return f"Nullable({base})" if self.nullable else base

    def arrow_type(self) -> pa.DataType:
        dec = self.decimal
        if dec:
            return pa.decimal128(*dec)
        return {
            "int64": pa.int64(),
            "float64": pa.float64(),
            "string": pa.string(),
            "bool": pa.bool_(),
            "datetime": pa.timestamp("ms", tz="UTC"),
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

    @property
    def schema_version(self) -> str:
        """A short hash of the column names and warehouse types, recorded with each load."""
        text = ";".join(f"{c.name}:{c.clickhouse_type()}" for c in self.columns)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(
        cls, spec: dict, where: str, primary_key=(), extra_columns: str = "ignore"
    ) -> Contract:
        cols = []
        for name, rules in (spec or {}).items():
            rules = rules or {}
            ctype = str(rules.get("type", "string"))
            if ctype not in TYPES and not _DECIMAL.match(ctype):
                raise ContractError(
                    f"{where}: column {name!r} has type {ctype!r}; use one of "
                    f"{', '.join(TYPES)} or decimal(P,S)."
                )
            accepted = rules.get("accepted_values")
            cols.append(
                Column(
                    name=name,
                    type=ctype,
                    nullable=bool(rules.get("nullable", True)) and name not in (primary_key or ()),
                    accepted_values=tuple(accepted) if accepted else None,
                    min=rules.get("min"),
                    max=rules.get("max"),
                    max_length=int(rules["max_length"]) if rules.get("max_length") else None,
                    pattern=str(rules["pattern"]) if rules.get("pattern") else None,
                    description=str(rules.get("description", "")),
                )
            )
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
        for col in cols:
            if col.pattern:
                try:
                    re.compile(col.pattern)
                except re.error as exc:
                    raise ContractError(
                        f"{where}: column {col.name!r} has an invalid pattern: {exc}."
                    ) from None
        return cls(columns=tuple(cols), primary_key=pk, extra_columns=extra_columns)

    def arrow_schema(self, extra: list[tuple[str, pa.DataType]] = ()) -> pa.Schema:
        return pa.schema([(c.name, c.arrow_type()) for c in self.columns] + list(extra))


DATE_MIN = pd.Timestamp("1900-01-01")
DATE_MAX = pd.Timestamp("2299-12-31 23:59:59.999")  # the range of Date32 and DateTime64
_INT_TEXT = r"\s*[+-]?\d{1,18}\s*"  # parsed exactly; longer numbers go through float


def _coerce_int(values: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("Int64")
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
    else:
        text = values.astype("string")
        exact = text.str.fullmatch(_INT_TEXT).fillna(False).astype(bool)
        out = pd.Series(pd.NA, index=values.index, dtype="Int64")
        if exact.any():
            out[exact] = text[exact].str.strip().str.removeprefix("+").astype("Int64")
        rest = ~exact & text.notna()
        if rest.any():
            out[rest] = _coerce_int(pd.to_numeric(text[rest], errors="coerce"))
        return out
    whole = num.notna() & (np.floor(num) == num) & (num.abs() < 2.0**53)
    return num.where(whole).astype("Int64")


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def _arrow_cast(values: pd.Series, target: pa.DataType) -> pa.Array | None:
    """Text cast by Arrow when every value converts (the common case, vectorized), else None."""
    if not pd.api.types.is_string_dtype(values):
        return None
    try:
        arr = pc.utf8_trim_whitespace(pa.array(values, type=pa.string(), from_pandas=True))
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        return pc.cast(arr, target)
    except _ARROW_ERRORS:
        return None


def _fast_coerce(col: Column, values: pd.Series) -> pd.Series | None:
    """The conversion of a column of text done by Arrow, or None to take the general way."""
    if col.type == "int64" or col.type == "float64" or col.decimal:
        target, dtype = (
            (pa.int64(), pd.Int64Dtype())
            if col.type == "int64"
            else (pa.float64(), pd.Float64Dtype())
        )
        arr = _arrow_cast(values, target)
        return (
            None
            if arr is None
            else pd.Series(arr.to_pandas(types_mapper={target: dtype}.get), index=values.index)
        )
    if col.type == "date":
        arr = _arrow_cast(values, pa.date32())
        if arr is None:
            return None
        return pd.Series(pc.cast(arr, pa.timestamp("ns")).to_pandas(), index=values.index)
    if col.type == "datetime":
        arr = _arrow_cast(values, pa.timestamp("ns"))
        if arr is not None:
            return pd.Series(arr.to_pandas(), index=values.index).dt.tz_localize("UTC")
        arr = _arrow_cast(values, pa.timestamp("ns", tz="UTC"))
        return None if arr is None else pd.Series(arr.to_pandas(), index=values.index)
    return None


def _coerce(col: Column, values: pd.Series) -> pd.Series:
    """Values converted to the column type; what cannot be converted becomes missing."""
    fast = _fast_coerce(col, values)
    if fast is not None:
        return fast
    if col.type == "int64":
        return _coerce_int(values)
    if col.type == "float64" or col.decimal:
        if values.dtype == object:
            values = values.map(lambda v: float(v) if isinstance(v, decimal.Decimal) else v)
        return pd.to_numeric(values, errors="coerce").astype("Float64")
    if col.type == "bool":
        if pd.api.types.is_bool_dtype(values):
            return values.astype("boolean")
        mapping = {
            True: True,
            False: False,
            "true": True,
            "false": False,
            "1": True,
            "0": False,
            "t": True,
            "f": False,
        }
        return values.map(lambda v: mapping.get(v.strip().lower() if isinstance(v, str) else v))
    if col.type == "datetime":
        return pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    if col.type == "date":
        return pd.to_datetime(values, errors="coerce", format="mixed").dt.normalize()
    if pd.api.types.is_string_dtype(values) and values.dtype != object:
        return values
    return values.map(
        lambda v: (
            v
            if isinstance(v, str) or v is None or v is pd.NA
            else (None if isinstance(v, float) and np.isnan(v) else str(v))
        )
    )


def _present(raw: pd.Series) -> pd.Series:
    """True where a value is given: not null and not blank text."""
    if pd.api.types.is_string_dtype(raw) and raw.dtype != object:
        return raw.notna() & (raw.str.strip() != "")
    return raw.notna() & ~raw.map(lambda v: isinstance(v, str) and v.strip() == "")


def validate(
    df: pd.DataFrame, contract: Contract, *, header_columns: bool = False, check_keys: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a partition into (good rows, typed) and (bad rows with a `_reason` column).

    `header_columns`: the input has a header (CSV, Parquet), so a contract column absent
    from it breaks every row; in JSON lines an absent key is a missing value. `check_keys`:
    a repeated primary key breaks the later rows (file loads check keys across the whole
    load instead, in the warehouse). A column
    `_reason_pre` holds reasons found while reading (e.g. bytes that are not UTF-8).
    """
    reasons = pd.Series("", index=df.index, dtype=object)

    def flag(mask: pd.Series, text) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        new = text if isinstance(text, str) else text[mask]
        reasons.loc[mask] = reasons[mask].where(reasons[mask] == "", reasons[mask] + "; ") + new

    if contract.extra_columns == "fail":
        for name in df.columns:
            if not name.startswith("_") and name not in contract.names:
                flag(df[name].notna(), f"unexpected column {name} (extra_columns: fail)")
    out = pd.DataFrame(index=df.index)
    for col in contract.columns:
        if col.name not in df.columns:
            raw = pd.Series(None, index=df.index, dtype=object)
            if header_columns:
                flag(pd.Series(True, index=df.index), f"column {col.name} missing from the source")
        else:
            raw = df[col.name]
        present = _present(raw)
        typed = _coerce(col, raw)
        bad_type = present & typed.isna()
        if bad_type.any():
            shown = raw.astype(str).str.slice(0, 60)
            flag(bad_type, f"column {col.name}: not a {col.type}: " + shown)
        if not col.nullable:
            flag(~present, f"column {col.name}: missing value (not nullable)")
        ok = typed.notna()
        if col.type in ("date", "datetime"):
            naive = typed.dt.tz_localize(None) if col.type == "datetime" else typed
            flag(
                ok & ((naive < DATE_MIN) | (naive > DATE_MAX)),
                f"column {col.name}: out of range 1900-01-01..2299-12-31: "
                + raw.astype(str).str.slice(0, 60),
            )
        dec = col.decimal
        if dec:
            flag(
                ok & (typed.abs() >= 10.0 ** (dec[0] - dec[1])),
                f"column {col.name}: does not fit {col.type}",
            )
        if col.accepted_values is not None:
            flag(
                ok & ~typed.isin(list(col.accepted_values)),
                f"column {col.name}: not one of {list(col.accepted_values)}: "
                + raw.astype(str).str.slice(0, 60),
            )
        if col.min is not None:
            flag(ok & (typed < col.min), f"column {col.name}: below minimum {col.min}")
        if col.max is not None:
            flag(ok & (typed > col.max), f"column {col.name}: above maximum {col.max}")
        if col.max_length is not None:
            flag(
                ok & (typed.astype("string").str.len() > col.max_length),
                f"column {col.name}: longer than {col.max_length} characters",
            )
        if col.pattern:
            matches = typed.astype("string").str.fullmatch(col.pattern)
            flag(
                ok & ~matches.fillna(False).astype(bool),
                f"column {col.name}: does not match {col.pattern}",
            )
        out[col.name] = typed
    if check_keys and contract.primary_key:
        dup = out.duplicated(list(contract.primary_key), keep="first") & (reasons == "")
        dup &= out[list(contract.primary_key)].notna().all(axis=1)
        flag(dup, "duplicate primary key " + ", ".join(contract.primary_key))
    if "_reason_pre" in df:  # a row broken on reading: its other checks say nothing more
        pre = df["_reason_pre"].notna()
        reasons[pre] = df.loc[pre, "_reason_pre"].astype(object)
    bad_mask = reasons != ""
    good = out[~bad_mask]
    bad = df[bad_mask].copy()
    bad["_reason"] = reasons[bad_mask]
    return good, bad


def to_arrow(good: pd.DataFrame, contract: Contract) -> pa.Table:
    """Typed rows as an Arrow table with the contract's schema (decimals exact to scale)."""
    arrays = []
    for col in contract.columns:
        values = good[col.name]
        dec = col.decimal
        if dec:
            rounded = pa.array(values.round(dec[1]).astype("float64"), from_pandas=True)
            arrays.append(rounded.cast(pa.decimal128(*dec), safe=False))
        elif col.type == "date":
            stamps = pa.array(values.dt.tz_localize(None) if values.dt.tz else values)
            arrays.append(pc.cast(stamps, pa.date32()))
        elif col.type == "datetime":
            values = values.dt.floor("ms")
            arrays.append(pa.array(values, type=pa.timestamp("ms", tz="UTC"), from_pandas=True))
        else:
            arrays.append(pa.array(values, type=col.arrow_type(), from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=contract.arrow_schema())
