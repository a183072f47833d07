"""Data quality beyond model tests: source freshness (freshness) and the volume and
null-rate history of every table with anomaly flags (history)."""

from starloom.quality.freshness import (
    FRESHNESS_TABLE,
    FreshnessError,
    check_freshness,
    raise_on_stale,
)
from starloom.quality.history import anomalies, flag_anomalies, metric_history, record_stats

__all__ = [
    "FRESHNESS_TABLE",
    "FreshnessError",
    "anomalies",
    "check_freshness",
    "flag_anomalies",
    "metric_history",
    "raise_on_stale",
    "record_stats",
]
