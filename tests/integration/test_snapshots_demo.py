"""The demo pipeline day by day (`ploomber build --env--run_date ...`): the snapshots build
up the customers' and products' history, facts join the versions valid at order time, and
re-running a day leaves every model as it was."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from tests.support.project import copy_project, run_tool

from starloom.settings import load_settings
from starloom.warehouse import Warehouse

pytestmark = pytest.mark.slow
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
MODELS = [
    "snp_customers",
    "snp_products",
    "dim_customers",
    "dim_products",
    "dim_dates",
    "fct_orders",
    "fct_events_daily",
]


def _build(root: Path, day: str, *extra: str) -> None:
    done = run_tool(
        root, "ploomber", "build", "--env--run_date", day, "--env--demo_size", "0.5", *extra,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


def _shop_table(root: Path, table: str) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{root / 'data/demo/shop.db'}")
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


def _checksums(wh: Warehouse) -> dict[str, tuple]:
    return {
        t: tuple(wh.query_rows(f"SELECT count(), sum(cityHash64(*)) FROM {wh.qualified(t)}")[0])
        for t in MODELS
    }


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """A project built for three successive days; the shop's customers at the end of each."""
    root = copy_project(tmp_path_factory.mktemp("days") / "project")
    states = {}
    for day in DAYS:
        _build(root, day)
        states[day] = _shop_table(root, "customers")
    return root, states


def expected_history(states: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The SCD2 history the daily states imply, derived without the warehouse."""
    seen = pd.concat(
        [df.assign(day=day) for day, df in states.items()], ignore_index=True
    ).sort_values(["customer_id", "updated_at", "day"])
    versions = seen.drop_duplicates(["customer_id", "updated_at"])[
        ["customer_id", "city", "updated_at"]
    ].copy()
    versions["valid_to"] = versions.groupby("customer_id")["updated_at"].shift(-1)
    last_day = seen.groupby("customer_id")["day"].max()
    gone = last_day[last_day < DAYS[-1]]
    for customer, day in gone.items():
        # closed at the end of the first day it was missing
        after = DAYS[DAYS.index(day) + 1]
        end = pd.Timestamp(after) + pd.Timedelta(days=1)
        last = versions.index[versions.customer_id == customer][-1]
        versions.loc[last, "valid_to"] = end
    versions = versions.rename(columns={"updated_at": "valid_from"})
    return versions.sort_values(["customer_id", "valid_from"]).reset_index(drop=True)


def test_three_days_give_the_right_scd2_history_with_a_deletion(three_days):
    root, states = three_days
    wh = Warehouse(load_settings(root))
    got = wh.query_df(
        "SELECT customer_id, city, valid_from, valid_to, is_current FROM snp_customers "
        "ORDER BY customer_id, valid_from"
    )
    want = expected_history(states)
    assert len(got) == len(want)
    assert (got.customer_id.to_numpy() == want.customer_id.to_numpy()).all()
    assert (got.city.to_numpy() == want.city.to_numpy()).all()
    got_from = pd.to_datetime(got.valid_from).dt.tz_localize(None)
    assert (got_from.to_numpy() == pd.to_datetime(want.valid_from).to_numpy()).all()
    got_to = pd.to_datetime(got.valid_to).dt.tz_localize(None)
    want_to = pd.to_datetime(want.valid_to)
    assert (got_to.isna().to_numpy() == want_to.isna().to_numpy()).all()
    assert (got_to.dropna().to_numpy() == want_to.dropna().to_numpy()).all()
    assert (got.is_current.to_numpy() == want_to.isna().to_numpy()).all()
    # the history holds moves and a deletion
    moved = want.groupby("customer_id").size()
    assert (moved > 1).any()
    deleted = set(states[DAYS[0]].customer_id) - set(states[DAYS[-1]].customer_id)
    assert deleted
    for customer in deleted:
        rows = got[got.customer_id == customer]
        assert not rows.is_current.any() and rows.valid_to.notna().all()
        assert customer not in set(wh.query_df("SELECT customer_id FROM dim_customers").customer_id)


def test_a_fact_row_joins_the_versions_valid_at_its_time(three_days):
    root, _ = three_days
    wh = Warehouse(load_settings(root))
    checked = wh.query_df(
        "SELECT f.order_date >= '2024-01-02' AS tracked, count() AS lines, "
        "countIf(NOT (c.valid_from <= f.ordered_at "
        "  AND (c.valid_to IS NULL OR f.ordered_at < c.valid_to))) AS customer_wrong, "
        "countIf(NOT (p.valid_from <= f.ordered_at "
        "  AND (p.valid_to IS NULL OR f.ordered_at < p.valid_to))) AS product_wrong, "
        "countIf(p.price != f.unit_price) AS price_differs "
        "FROM fct_orders AS f "
        "INNER JOIN snp_customers AS c ON c.customer_sk = f.customer_sk "
        "INNER JOIN snp_products AS p ON p.product_sk = f.product_sk "
        "GROUP BY tracked ORDER BY tracked"
    )
    assert checked.lines.sum() == wh.count("fct_orders")  # every line found its versions
    since = checked[checked.tracked.astype(bool)].iloc[0]
    # from the second day on, the snapshots hold every change, so the version valid when
    # the order was placed is the one joined, and its list price is the price paid
    assert since.lines > 0
    assert (since.customer_wrong, since.product_wrong, since.price_differs) == (0, 0, 0)
    changed = wh.scalar(
        "SELECT count() FROM fct_orders WHERE order_date >= '2024-01-02' AND product_sk NOT IN "
        "(SELECT product_sk FROM dim_products)"
    )
    assert changed > 0  # some lines point at a product version that is no longer current


def test_rerunning_the_same_day_gives_identical_tables(three_days):
    root, _ = three_days
    wh = Warehouse(load_settings(root))
    before = _checksums(wh)
    _build(root, DAYS[-1], "--force")
    assert _checksums(wh) == before
    assert all(count > 0 for count, _ in before.values())
