"""Source freshness and the volume / null-rate history with anomaly flags, on real chdb."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from starloom import quality
from starloom.errors import ConfigError


def _declare(project, freshness: dict) -> None:
    (project / "sources" / "shop.yml").unlink()
    (project / "sources" / "events.yml").write_text(
        "source: events\nkind: files\nformat: jsonl\ntables:\n  events:\n"
        "    path: data/*.jsonl\n"
        "    columns: {event_id: {type: string}, event_at: {type: datetime}}\n"
        f"    freshness: {freshness!r}\n".replace("'", '"')
    )


def _raw_events(wh, *times: str) -> None:
    with wh.session():
        wh.command(
            f"CREATE TABLE {wh.qualified('raw_events__events')} (event_id String, "
            "event_at DateTime64(3, 'UTC'), _loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = MergeTree ORDER BY event_id"
        )
        for i, t in enumerate(times):
            wh.command(
                f"INSERT INTO {wh.qualified('raw_events__events')} (event_id, event_at) "
                "VALUES ({i:String}, {t:DateTime64(3)})",
                {"i": str(i), "t": t},
            )


@pytest.mark.parametrize(
    "latest,status",
    [("2024-01-07 20:00:00", "pass"), ("2024-01-06 12:00:00", "warn"), ("2024-01-03", "error")],
)
def test_freshness_against_the_end_of_the_run_date(project, wh, latest, status):
    _declare(
        project,
        {"column": "event_at", "warn_after": {"hours": 12}, "error_after": {"days": 2}},
    )
    _raw_events(wh, "2024-01-01 00:00:00", latest)
    got = quality.check_freshness(wh, run_date="2024-01-07")
    (row,) = got.to_dict(orient="records")
    assert row["status"] == status
    assert row["reference_at"] == dt.datetime(2024, 1, 8, tzinfo=dt.UTC)
    assert row["warn_after_hours"] == 12 and row["error_after_hours"] == 48
    kept = wh.query_df("SELECT status, `table` FROM starloom_freshness")
    assert kept.to_dict(orient="records") == [{"status": status, "table": "events"}]
    if status == "error":
        with pytest.raises(quality.FreshnessError, match="events.events"):
            quality.raise_on_stale(got)
    else:
        quality.raise_on_stale(got)


def test_freshness_defaults_to_loaded_at_and_now(project, wh):
    _declare(project, {"warn_after": {"minutes": 30}})
    _raw_events(wh, "2020-01-01 00:00:00")
    (row,) = quality.check_freshness(wh).to_dict(orient="records")
    assert row["column"] == "_loaded_at" and row["status"] == "pass"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    (row,) = quality.check_freshness(wh, now=later).to_dict(orient="records")
    assert row["status"] == "warn" and 1.9 < row["age_hours"] < 2.1


def test_missing_raw_table_is_reported_not_passed(project, wh):
    _declare(project, {"error_after": {"hours": 1}})
    (row,) = quality.check_freshness(wh, run_date="2024-01-07").to_dict(orient="records")
    assert row["status"] == "missing"
    with pytest.raises(quality.FreshnessError, match="no rows in raw_events__events"):
        quality.raise_on_stale(pd.DataFrame([row]))


def test_bad_freshness_declaration_names_the_table(project, wh):
    _declare(project, {"warn_after": {"weeks": 1}})
    with pytest.raises(ConfigError, match="table events freshness warn_after"):
        quality.check_freshness(wh)


def _fact(wh, rows_per_day: dict[str, int], null_every: int = 0) -> None:
    wh.command(f"DROP TABLE IF EXISTS {wh.qualified('fct_visits')}")
    wh.command(
        f"CREATE TABLE {wh.qualified('fct_visits')} (visit_date Date, who Nullable(String)) "
        "ENGINE = MergeTree ORDER BY visit_date"
    )
    for day, n in rows_per_day.items():
        wh.command(
            f"INSERT INTO {wh.qualified('fct_visits')} SELECT {{d:Date}}, "
            "if({e:UInt32} > 0 AND number % {e:UInt32} = 0, NULL, 'x') FROM numbers({n:UInt32})",
            {"d": day, "n": n, "e": null_every},
        )


def test_history_and_anomaly_flags(wh):
    base = dt.date(2024, 1, 1)
    for i in range(7):  # seven normal runs: about 100 rows a day, no nulls
        days = {str(base + dt.timedelta(days=d)): 100 + (d * 3) % 5 for d in range(i + 1)}
        with wh.session():
            _fact(wh, days)
            quality.record_stats(
                wh, ["fct_visits"], run_date=base + dt.timedelta(days=i), run_id=f"run{i}"
            )
    calm = quality.anomalies(wh).set_index("metric")
    assert not calm.is_anomaly.any(), calm
    assert calm.loc["rows_on_run_date", "history"] == 6

    # the eighth run: the new day is a tenth of its usual size and half the visitors are NULL
    days[str(base + dt.timedelta(days=7))] = 10
    with wh.session():
        _fact(wh, days, null_every=2)
        stats = quality.record_stats(
            wh, ["fct_visits"], run_date=base + dt.timedelta(days=7), run_id="run7"
        )
    assert set(stats["tables"].partition_date.dropna()) == {
        base + dt.timedelta(days=d) for d in range(8)
    }
    flags = quality.anomalies(wh).set_index("metric")
    assert flags.loc["rows_on_run_date", "is_anomaly"]
    assert flags.loc["rows_on_run_date", "value"] == 10
    assert flags.loc["null_rate:who", "is_anomaly"]
    assert not flags.loc["null_rate:visit_date", "is_anomaly"]
    # too little history: nothing is flagged
    few = quality.anomalies(wh, min_history=8)
    assert not few.is_anomaly.any()


def test_flags_are_robust_to_one_past_outlier():
    rows = []
    for i, value in enumerate([100, 101, 99, 5000, 100, 102, 98, 100]):
        rows.append(
            {"run_id": f"r{i}", "run_date": None, "recorded_at": pd.Timestamp(2024, 1, 1 + i),
             "table": "t", "metric": "rows", "value": float(value)}
        )  # fmt: skip
    flags = quality.flag_anomalies(pd.DataFrame(rows))
    assert not flags.is_anomaly.any()  # the old outlier does not widen the band
    rows[-1]["value"] = 150.0
    assert quality.flag_anomalies(pd.DataFrame(rows)).is_anomaly.all()
