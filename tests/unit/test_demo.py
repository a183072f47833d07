"""The demo shop: deterministic, append-only history, realistic flaws in the clickstream."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from starloom.demo import EVENT_TYPES, generate
from starloom.errors import ConfigError

START = dt.date(2024, 3, 1)
RUN = dt.date(2024, 3, 14)
SIZE = 0.1
DATES = {
    "customers": ["signup_at", "updated_at"],
    "products": ["updated_at"],
    "orders": ["ordered_at", "updated_at"],
    "order_items": [],
}
KEYS = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_items": "order_item_id",
}


def read_table(out_dir: Path, name: str) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{out_dir / 'shop.db'}")
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(
                sa.text(f"SELECT * FROM {name}"), conn, parse_dates=DATES[name]
            )
    finally:
        engine.dispose()
    return frame.set_index(KEYS[name]).sort_index()


def event_files(out_dir: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(out_dir.glob("events/*/events.jsonl"))}


def parsed_events(out_dir: Path) -> pd.DataFrame:
    """The well-formed events of every day file, with the file's day."""
    rows = []
    for path in sorted(out_dir.glob("events/*/events.jsonl")):
        day = dt.date.fromisoformat(path.parent.name.removeprefix("date="))
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if malformed_kind(line) is None:
                rows.append({**row, "file_day": day})
    frame = pd.DataFrame(rows)
    frame["event_at"] = pd.to_datetime(frame["event_at"], format="%Y-%m-%dT%H:%M:%S")
    return frame


def malformed_kind(line: str) -> str | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return "truncated"
    if "event_id" not in row:
        return "missing_event_id"
    if row["event_type"] not in EVENT_TYPES:
        return "unknown_event_type"
    if row["customer_id"] is not None and not isinstance(row["customer_id"], int):
        return "customer_id_not_int"
    try:
        dt.datetime.strptime(row["event_at"], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return "bad_event_at"
    return None


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    return out, generate(out, RUN, START, size=SIZE)


@pytest.fixture(scope="module")
def events(shop):
    return parsed_events(shop[0])


@pytest.fixture(scope="module")
def first_day(tmp_path_factory):
    out = tmp_path_factory.mktemp("first_day")
    generate(out, START, START, size=SIZE)
    return out


def test_same_arguments_give_the_same_bytes_and_rows(tmp_path):
    run = START + dt.timedelta(days=4)
    generate(tmp_path / "a", run, START, size=0.05)
    generate(tmp_path / "b", run, START, size=0.05)
    generate(tmp_path / "c", run, START, size=0.05, seed=7)
    files = event_files(tmp_path / "a")
    assert len(files) == 5
    assert files == event_files(tmp_path / "b")
    assert files != event_files(tmp_path / "c")
    for name in DATES:
        pd.testing.assert_frame_equal(
            read_table(tmp_path / "a", name), read_table(tmp_path / "b", name)
        )


def test_rerun_leaves_unchanged_files_untouched(tmp_path):
    run = START + dt.timedelta(days=2)
    assert generate(tmp_path, run, START, size=0.05).files_written == 3
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("events/*/events.jsonl")}
    again = generate(tmp_path, run, START, size=0.05)
    assert again.files_written == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert not list(tmp_path.glob(".*tmp"))


def test_a_days_event_file_does_not_depend_on_run_date(tmp_path):
    day = START + dt.timedelta(days=3)
    generate(tmp_path / "short", day, START, size=0.05)
    generate(tmp_path / "long", day + dt.timedelta(days=2), START, size=0.05)
    short, long = event_files(tmp_path / "short"), event_files(tmp_path / "long")
    assert len(short) == 4 and len(long) == 6
    assert short == {name: long[name] for name in short}


def test_next_day_only_adds_that_days_changes(tmp_path):
    day = START + dt.timedelta(days=4)
    next_day = pd.Timestamp(day + dt.timedelta(days=1))
    generate(tmp_path / "d", day, START, size=SIZE)
    generate(tmp_path / "d1", next_day.date(), START, size=SIZE)
    for name, dates in DATES.items():
        before, after = read_table(tmp_path / "d", name), read_table(tmp_path / "d1", name)
        if "updated_at" in dates:
            touched = after["updated_at"] >= next_day
            assert touched.any() or name == "products", name
            assert (after.loc[touched, "updated_at"] < next_day + pd.Timedelta(days=1)).all()
            unchanged = after[~touched]
        else:  # order lines never change: the earlier ones are all still there
            unchanged = after[after["order_id"] <= before["order_id"].max()]
        gone = before.index.difference(after.index)
        if name != "customers":
            assert gone.empty, name
        else:
            assert len(gone) <= 1
        pd.testing.assert_frame_equal(unchanged, before.drop(gone).loc[unchanged.index])
        assert set(before.drop(gone).index) <= set(after.index)


def test_customers_move_city(shop, first_day):
    out, _ = shop
    now, then = read_table(out, "customers"), read_table(first_day, "customers")
    both = now.index.intersection(then.index)
    moved = both[now.loc[both, "city"] != then.loc[both, "city"]]
    assert len(moved) > 0
    assert (now.loc[moved, "updated_at"] >= pd.Timestamp(START + dt.timedelta(days=1))).all()
    assert (now.loc[moved, "updated_at"] > now.loc[moved, "signup_at"]).all()
    new = now[now["signup_at"] >= pd.Timestamp(START)]
    assert len(new) > 0 and now["email"].is_unique


def test_prices_change_and_products_retire_within_the_window(shop, first_day):
    out, _ = shop
    now, then = read_table(out, "products"), read_table(first_day, "products")
    repriced = now.index[now["price"] != then["price"]]
    assert len(repriced) > 0
    assert (now.loc[repriced, "updated_at"] >= pd.Timestamp(START + dt.timedelta(days=1))).all()
    retired = now.index[now["is_active"] == 0]
    assert (now.loc[retired, "updated_at"] >= pd.Timestamp(START)).all()
    assert then["is_active"].sum() >= now["is_active"].sum() > 0


def test_customers_without_orders_get_deleted(shop, first_day):
    out, summary = shop
    now, then = read_table(out, "customers"), read_table(first_day, "customers")
    orders = read_table(out, "orders")
    deleted = then.index.difference(now.index)
    assert summary.deleted_customers >= len(deleted) > 0
    assert not orders["customer_id"].isin(deleted).any()
    assert now.index.max() - len(now) == summary.deleted_customers


def test_order_lines_are_priced_at_the_price_of_the_time(shop):
    out, _ = shop
    items = read_table(out, "order_items").join(read_table(out, "orders"), on="order_id")
    products = read_table(out, "products").rename(columns={"updated_at": "updated_at_product"})
    items = items.join(products[["price", "updated_at_product"]], on="product_id")
    stable = items[items["updated_at_product"] <= items["ordered_at"]]
    assert len(stable) > 0.9 * len(items)
    assert (stable["unit_price"] == stable["price"]).all()
    before_change = items[items["updated_at_product"] > items["ordered_at"]]
    assert len(before_change) > 0
    assert (before_change["unit_price"] != before_change["price"]).any()
    lines_per_order = items.groupby("order_id").size()
    assert lines_per_order.between(1, 5).all() and 2.5 < lines_per_order.mean() < 3.5
    assert not items.duplicated(["order_id", "product_id"]).any()


def test_a_price_change_applies_from_its_time_of_day(tmp_path):
    day = START + dt.timedelta(days=1)
    generate(tmp_path / "before", START, START, size=1)
    generate(tmp_path / "after", day, START, size=1)
    old = read_table(tmp_path / "before", "products")
    new = read_table(tmp_path / "after", "products")
    changed = new.index[new["price"] != old["price"]]
    assert len(changed) > 0
    items = read_table(tmp_path / "after", "order_items").join(
        read_table(tmp_path / "after", "orders"), on="order_id"
    )
    items = items[items["product_id"].isin(changed) & (items["ordered_at"] >= pd.Timestamp(day))]
    change_at = new.loc[items["product_id"], "updated_at"].to_numpy()
    earlier = (items["ordered_at"] < change_at).to_numpy()
    assert 0 < earlier.sum() < len(items)
    expected = pd.Series(new.loc[items["product_id"], "price"].to_numpy(), index=items.index).where(
        ~earlier, old.loc[items["product_id"], "price"].to_numpy()
    )
    assert (items["unit_price"] == expected).all()


def test_orders_ship_or_get_cancelled_later(shop):
    out, summary = shop
    orders = read_table(out, "orders")
    assert set(orders["status"]) == {"placed", "shipped", "cancelled"}
    moved = orders["status"] != "placed"
    assert (orders.loc[moved, "updated_at"].dt.date > orders.loc[moved, "ordered_at"].dt.date).all()
    assert (orders.loc[~moved, "updated_at"] == orders.loc[~moved, "ordered_at"]).all()
    last_day = orders["ordered_at"] >= pd.Timestamp(RUN)
    assert (orders.loc[last_day, "status"] == "placed").all()
    days = (RUN - START).days + 1
    assert 0.7 * 1000 * SIZE * days < summary.orders < 1.3 * 1000 * SIZE * days


def test_some_events_arrive_late(shop, events):
    _, summary = shop
    lag_days = (pd.to_datetime(events["file_day"]) - events["event_at"].dt.normalize()).dt.days
    late = lag_days > 0
    assert late.sum() == summary.late_events
    assert 0.01 < late.mean() < 0.03
    assert lag_days[late].between(1, 3).all() and lag_days.min() >= 0
    assert events["event_id"].is_unique


def test_malformed_lines_of_every_kind(shop):
    out, summary = shop
    lines = [
        line for path in out.glob("events/*/events.jsonl") for line in path.read_text().splitlines()
    ]
    kinds = [kind for kind in map(malformed_kind, lines) if kind]
    assert len(lines) == summary.events_lines
    assert len(kinds) == summary.malformed_lines
    assert set(kinds) == {
        "truncated",
        "missing_event_id",
        "unknown_event_type",
        "customer_id_not_int",
        "bad_event_at",
    }
    assert 0.001 < len(kinds) / len(lines) < 0.004


def test_funnel_narrows_and_purchases_match_orders(shop, events):
    out, summary = shop
    for _, day in events.groupby("file_day"):
        counts = day["event_type"].value_counts().reindex(list(EVENT_TYPES), fill_value=0)
        assert counts.is_monotonic_decreasing and counts.is_unique, counts
    browsing = events["event_type"].isin(["product_view", "add_to_cart"])
    assert events.loc[browsing, "product_id"].notna().all()
    assert events.loc[~browsing, "product_id"].isna().all()
    assert events["customer_id"].isna().any() and events["customer_id"].notna().any()
    purchases = events[events["event_type"] == "purchase"].astype({"order_id": int})
    orders = read_table(out, "orders")
    matched = orders.loc[purchases["order_id"]]
    assert (matched["customer_id"].to_numpy() == purchases["customer_id"].to_numpy()).all()
    assert (matched["ordered_at"].to_numpy() == purchases["event_at"].to_numpy()).all()
    malformed_purchases = len(orders) - len(purchases)
    assert 0 <= malformed_purchases <= summary.malformed_lines


def test_bad_arguments_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="before its start_date"):
        generate(tmp_path / "x", START, RUN)
    with pytest.raises(ConfigError, match="size"):
        generate(tmp_path / "x", RUN, START, size=0)
    with pytest.raises(ConfigError, match="size"):
        generate(tmp_path / "x", RUN, START, size=-1)
    assert not (tmp_path / "x").exists()


def test_earlier_run_date_removes_later_days(tmp_path):
    generate(tmp_path, START + dt.timedelta(days=5), START, size=0.05)
    (tmp_path / "events" / "notes").mkdir()
    summary = generate(tmp_path, START + dt.timedelta(days=2), START, size=0.05)
    folders = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert folders == ["date=2024-03-01", "date=2024-03-02", "date=2024-03-03", "notes"]
    assert summary.files_written == 0 and summary.event_files == 3
    last = read_table(tmp_path, "orders")["ordered_at"].max()
    assert last.date() == START + dt.timedelta(days=2)


def test_size_scales_volumes_and_summary_shows_in_a_frame(tmp_path, shop):
    out, summary = shop
    half = generate(tmp_path, RUN, START, size=SIZE / 2)
    assert 0.4 < half.events_lines / summary.events_lines < 0.6
    assert 0.4 < half.orders / summary.orders < 0.6
    frame = summary.to_frame()
    assert list(frame.columns) == ["metric", "value"]
    values = dict(zip(frame["metric"], frame["value"]))
    assert values["orders"] == str(len(read_table(out, "orders")))
    assert summary.as_dict()["event_files"] == (RUN - START).days + 1
