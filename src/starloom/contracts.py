"""Data contracts: declared column types and rules, checked on each partition with pandas.

A contract maps column names to rules. `validate` splits a partition into rows that keep
the contract (typed, ready to load) and rows that break it, each with the reason, so that
rows in = rows loaded + rows quarantined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

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

    @classmethod
    def from_dict(cls, spec: dict, where: str, primary_key=()) -> Contract:
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
                    nullable=bool(rules.get("nullable", True)),
                    accepted_values=tuple(accepted) if accepted else None,
                    min=rules.get("min"),
                    max=rules.get("max"),
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
        return cls(columns=tuple(cols), primary_key=pk)

    def arrow_schema(self, extra: list[tuple[str, pa.DataType]] = ()) -> pa.Schema:
        return pa.schema([(c.name, c.arrow_type()) for c in self.columns] + list(extra))


def _coerce(col: Column, values: pd.Series) -> pd.Series:
    """Values converted to the column type; what cannot be converted becomes missing."""
    if col.type == "int64":
        num = pd.to_numeric(values, errors="coerce")
        whole = num.notna() & (np.floor(num) == num)
        return num.where(whole).astype("Int64")
    if col.type == "float64" or col.decimal:
        return pd.to_numeric(values, errors="coerce").astype("Float64")
    if col.type == "bool":
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
        return values.map(lambda v: mapping.get(v.lower() if isinstance(v, str) else v))
    if col.type == "datetime":
        return pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    if col.type == "date":
        return pd.to_datetime(values, errors="coerce", format="mixed").dt.normalize()
    return values.map(
        lambda v: (
            v
            if isinstance(v, str) or v is None or v is pd.NA
            else (None if isinstance(v, float) and np.isnan(v) else str(v))
        )
    )


def validate(df: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a partition into (good rows, typed) and (bad rows with a `_reason` column)."""
    reasons = pd.Series("", index=df.index, dtype=object)

    def flag(mask: pd.Series, text) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        new = text if isinstance(text, str) else text[mask]
        reasons.loc[mask] = reasons[mask].where(reasons[mask] == "", reasons[mask] + "; ") + new

    out = pd.DataFrame(index=df.index)
    for col in contract.columns:
        if col.name not in df.columns:
            raw = pd.Series(None, index=df.index, dtype=object)
        else:
            raw = df[col.name]
        present = raw.notna() & ~raw.map(lambda v: isinstance(v, str) and v.strip() == "")
        typed = _coerce(col, raw)
        bad_type = present & typed.isna()
        if bad_type.any():
            shown = raw.astype(str).str.slice(0, 60)
            flag(bad_type, f"column {col.name}: not a {col.type}: " + shown)
        if not col.nullable:
            flag(~present, f"column {col.name}: missing value (not nullable)")
        ok = typed.notna()
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
        out[col.name] = typed
    if contract.primary_key:
        dup = out.duplicated(list(contract.primary_key), keep="first") & (reasons == "")
        dup &= out[list(contract.primary_key)].notna().all(axis=1)
        flag(dup, "duplicate primary key " + ", ".join(contract.primary_key))
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
            arrays.append(pa.array(values.dt.date, type=pa.date32(), from_pandas=True))
        elif col.type == "datetime":
            arrays.append(pa.array(values, type=pa.timestamp("ms", tz="UTC"), from_pandas=True))
        else:
            arrays.append(pa.array(values, type=col.arrow_type(), from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=contract.arrow_schema())
