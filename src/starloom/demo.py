"""Demo sources of an online shop: an OLTP database and a clickstream, seeded and deterministic.

`generate` simulates the shop day by day from `start_date` to `run_date`, each day with its
own random generator seeded from (seed, day): the state at the end of day D is the state at
the end of day D-1 plus day D's changes, and a day's event file has the same bytes whatever
`run_date` is. `shop.db` holds the tables at the end of `run_date`; the clickstream, one
JSON-lines file per day, carries late events and malformed lines as real feeds do.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from starloom.errors import ConfigError

DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
# Daily volumes at size=1; every one scales linearly with size.
RATES = {
    "customers": 500,
    "new_customers": 30,
    "products": 200,
    "orders": 1000,
    "events": 20_000,
    "city_moves": 8,
    "price_changes": 4,
    "deactivations": 1,
}
CATEGORIES = {
    "Books": ("Novel", "Cookbook", "Atlas", "Biography", "Guide"),
    "Electronics": ("Headphones", "Charger", "Speaker", "Keyboard", "Monitor"),
    "Garden": ("Hose", "Planter", "Shears", "Rake", "Lantern"),
    "Home": ("Lamp", "Blanket", "Mug", "Vase", "Cushion"),
    "Sports": ("Yoga Mat", "Football", "Dumbbell", "Water Bottle", "Racket"),
    "Toys": ("Puzzle", "Robot", "Kite", "Blocks", "Plush Bear"),
}
BASE_PRICES = (15, 120, 35, 40, 45, 25)  # typical price per category, in the order above
ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Smart", "Vintage", "Pro", "Mini")
FIRST_NAMES = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Katja",
    "Luca",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sami",
    "Yusuf",
)
LAST_NAMES = (
    "Berg",
    "Costa",
    "Dubois",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lund",
    "Moreau",
    "Novak",
    "Rossi",
    "Schmidt",
    "Silva",
    "Weber",
)
PLACES = (
    ("Berlin", "Germany"),
    ("Hamburg", "Germany"),
    ("Paris", "France"),
    ("Lyon", "France"),
    ("Madrid", "Spain"),
    ("Barcelona", "Spain"),
    ("Milan", "Italy"),
    ("Rome", "Italy"),
    ("Amsterdam", "Netherlands"),
    ("Vienna", "Austria"),
    ("Warsaw", "Poland"),
    ("Lisbon", "Portugal"),
)
STATUSES = ("placed", "shipped", "cancelled")
EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
MALFORMED_KINDS = (
    "truncated",
    "unknown_event_type",
    "customer_id_not_int",
    "bad_event_at",
    "missing_event_id",
)
_LINE = (
    '{{"event_id":"{}","event_type":"{}","event_at":"{}","customer_id":{},'
    '"session_id":"{}","product_id":{},"order_id":{}}}'
)
_LINE_NO_ID = _LINE.replace('"event_id":"{}",', "")
_BREAKS = {
    "unknown_event_type": (1, "wishlist_add"),
    "customer_id_not_int": (3, '"abc"'),
    "bad_event_at": (2, "not-a-date"),
}  # field slot in _LINE, replacement

metadata = sa.MetaData()
customers_table = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("signup_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, index=True),
)
products_table = sa.Table(
    "products",
    metadata,
    sa.Column("product_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sku", sa.Text),
    sa.Column("product_name", sa.Text),
    sa.Column("category", sa.Text),
    sa.Column("price", sa.Numeric(10, 2)),
    sa.Column("is_active", sa.Boolean),
    sa.Column("updated_at", sa.DateTime, index=True),
)
orders_table = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer),
    sa.Column("ordered_at", sa.DateTime, index=True),
    sa.Column("status", sa.Text),
    sa.Column("updated_at", sa.DateTime, index=True),
)
order_items_table = sa.Table(
    "order_items",
    metadata,
    sa.Column("order_item_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, index=True),
    sa.Column("product_id", sa.Integer),
    sa.Column("quantity", sa.Integer),
    sa.Column("unit_price", sa.Numeric(10, 2)),
)


@dataclass(frozen=True)
class DemoSummary:
    """What `generate` wrote: table row counts at run_date and event counts over the window."""

    start_date: dt.date
    run_date: dt.date
    size: float
    seed: int
    customers: int
    products: int
    orders: int
    order_items: int
    deleted_customers: int
    event_files: int
    files_written: int
    events_lines: int
    malformed_lines: int
    late_events: int

    def as_dict(self) -> dict:
        """The summary as a plain dict."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """The summary as a two-column frame (metric, value), to show in a notebook."""
        items = self.as_dict()
        return pd.DataFrame({"metric": list(items), "value": [str(v) for v in items.values()]})


def _sec(day: dt.date) -> int:
    return (day - EPOCH).days * DAY


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    k = min(int(k), len(pool))
    return rng.choice(pool, k, replace=False) if k else np.empty(0, np.int64)


class _Shop:
    """The shop's state as numpy arrays indexed by id - 1 (a deleted customer keeps its slot)."""

    def __init__(self, start: dt.date, size: float, rng: np.random.Generator):
        t0, self.size, self.start = _sec(start), size, start
        n_c = max(1, round(RATES["customers"] * size))
        self.c = self._customers(rng, np.sort(t0 - rng.integers(DAY, 730 * DAY, n_c)))
        n_p = max(5, round(RATES["products"] * size))
        cat = rng.integers(0, len(CATEGORIES), n_p)
        base = np.array(BASE_PRICES)[cat] * rng.lognormal(0, 0.45, n_p)
        self.p = {
            "cat": cat,
            "noun": rng.integers(0, 5, n_p),
            "adj": rng.integers(0, len(ADJECTIVES), n_p),
            "price": np.maximum(1, np.round(base)).astype(np.int64) * 100 - 1,  # cents
            "active": np.ones(n_p, bool),
            "updated": t0 - rng.integers(DAY, 365 * DAY, n_p),
            "weight": rng.gamma(0.7, 1.0, n_p) + 0.01,
        }
        self.o = {k: np.empty(0, np.int64) for k in ("customer", "at", "status", "updated")}
        self.items: list[tuple[np.ndarray, ...]] = []  # per day: order, product, qty, cents
        self.deleted = 0

    @staticmethod
    def _customers(rng: np.random.Generator, signup: np.ndarray) -> dict[str, np.ndarray]:
        n = len(signup)
        return {
            "first": rng.integers(0, len(FIRST_NAMES), n),
            "last": rng.integers(0, len(LAST_NAMES), n),
            "place": rng.integers(0, len(PLACES), n),
            "signup": signup,
            "updated": signup.copy(),
            "alive": np.ones(n, bool),
            # about 30% of the customers only browse and never order
            "weight": np.where(rng.random(n) < 0.3, 0.0, rng.gamma(1.0, 1.0, n)),
            "ordered": np.zeros(n, bool),
        }

    def step(self, day: dt.date, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Apply one day of changes; return that day's orders (index, customer index, time)."""
        t0, size, c, p, o = _sec(day), self.size, self.c, self.p, self.o
        n_new = rng.poisson(RATES["new_customers"] * size)
        new = self._customers(rng, t0 + np.sort(rng.integers(0, DAY, n_new)))
        known = c["alive"] & (c["signup"] < t0)
        movers = _pick(rng, np.flatnonzero(known), rng.poisson(RATES["city_moves"] * size))
        c["place"][movers] = (c["place"][movers] + rng.integers(1, len(PLACES), len(movers))) % len(
            PLACES
        )
        c["updated"][movers] = t0 + rng.integers(0, DAY, len(movers))
        buyers = np.flatnonzero(known & (c["weight"] > 0))
        for key in c:
            c[key] = np.concatenate([c[key], new[key]])

        # products: price changes at some time of the day, a few products retired
        active = np.flatnonzero(p["active"])
        changed = _pick(rng, active, rng.poisson(RATES["price_changes"] * size))
        old_price, change_at = p["price"].copy(), np.full(len(p["price"]), -1)
        factor = rng.uniform(0.75, 1.25, len(changed))
        new_price = np.maximum(1, np.round(old_price[changed] * factor / 100)).astype(int) * 100 - 1
        p["price"][changed] = np.where(new_price == old_price[changed], new_price + 100, new_price)
        change_at[changed] = p["updated"][changed] = t0 + rng.integers(0, DAY, len(changed))
        n_off = (
            rng.poisson(RATES["deactivations"] * size) if 2 * len(active) > len(p["price"]) else 0
        )  # keep at least half of the catalogue on sale
        off = _pick(rng, np.setdiff1d(active, changed), n_off)
        p["active"][off], p["updated"][off] = False, t0 + rng.integers(0, DAY, len(off))

        # earlier orders move on: placed -> shipped (55%) or cancelled (3%) each day
        pending = np.flatnonzero(o["status"] == 0)
        u = rng.random(len(pending))
        moved = pending[u < 0.58]
        o["status"][moved] = np.where(u[u < 0.58] < 0.55, 1, 2)
        o["updated"][moved] = t0 + rng.integers(0, DAY, len(moved))

        # new orders of 1-5 lines, priced at the product's price at the time of the order
        n_o = rng.poisson(RATES["orders"] * size) if len(buyers) else 0
        w = c["weight"][buyers]
        cust = rng.choice(buyers, n_o, p=w / w.sum()) if n_o else np.empty(0, np.int64)
        at = t0 + np.sort(rng.integers(0, DAY, n_o))
        idx = len(o["at"]) + np.arange(n_o)
        line_order = np.repeat(
            np.arange(n_o), rng.choice(5, n_o, p=[0.15, 0.2, 0.3, 0.2, 0.15]) + 1
        )
        sellable = np.flatnonzero(p["active"])
        pw = p["weight"][sellable]
        prod = rng.choice(sellable, len(line_order), p=pw / pw.sum())
        qty = rng.choice(4, len(line_order), p=[0.7, 0.2, 0.07, 0.03]) + 1
        keep = ~pd.DataFrame({"o": line_order, "p": prod}).duplicated().to_numpy()
        line_order, prod, qty = line_order[keep], prod[keep], qty[keep]
        cents = np.where(at[line_order] < change_at[prod], old_price[prod], p["price"][prod])
        self.items.append((idx[line_order], prod, qty, cents))
        c["ordered"][cust] = True
        for key, values in (
            ("customer", cust),
            ("at", at),
            ("status", np.zeros(n_o, np.int64)),
            ("updated", at),
        ):
            o[key] = np.concatenate([o[key], values])

        # about every other day a customer who never ordered asks to be forgotten
        if rng.random() < 0.5:
            candidates = np.flatnonzero(c["alive"] & ~c["ordered"] & (c["signup"] < t0))
            if len(candidates):
                c["alive"][candidates[rng.integers(len(candidates))]] = False
                self.deleted += 1
        return {"idx": idx, "customer": cust, "at": at}

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four tables as they stand now."""
        c, p, o = self.c, self.p, self.o
        keep = np.flatnonzero(c["alive"])
        first = np.array(FIRST_NAMES)[c["first"][keep]]
        last = np.array(LAST_NAMES)[c["last"][keep]]
        places = np.array(PLACES)[c["place"][keep]]
        names, nouns = list(CATEGORIES), list(CATEGORIES.values())
        pid = np.arange(1, len(p["price"]) + 1)
        item_order, item_product, qty, cents = (np.concatenate(part) for part in zip(*self.items))
        return {
            "customers": pd.DataFrame(
                {
                    "customer_id": keep + 1,
                    "email": [
                        f"{f}.{s}{i}@example.com".lower() for f, s, i in zip(first, last, keep + 1)
                    ],
                    "full_name": [f"{f} {s}" for f, s in zip(first, last)],
                    "city": places[:, 0],
                    "country": places[:, 1],
                    "signup_at": c["signup"][keep].astype("datetime64[s]"),
                    "updated_at": c["updated"][keep].astype("datetime64[s]"),
                }
            ),
            "products": pd.DataFrame(
                {
                    "product_id": pid,
                    "sku": [f"{names[k][:3].upper()}-{i:05d}" for k, i in zip(p["cat"], pid)],
                    "product_name": [
                        f"{ADJECTIVES[a]} {nouns[k][n]}"
                        for a, k, n in zip(p["adj"], p["cat"], p["noun"])
                    ],
                    "category": np.array(names)[p["cat"]],
                    "price": p["price"] / 100,
                    "is_active": p["active"],
                    "updated_at": p["updated"].astype("datetime64[s]"),
                }
            ),
            "orders": pd.DataFrame(
                {
                    "order_id": np.arange(1, len(o["at"]) + 1),
                    "customer_id": o["customer"] + 1,
                    "ordered_at": o["at"].astype("datetime64[s]"),
                    "status": np.array(STATUSES)[o["status"]],
                    "updated_at": o["updated"].astype("datetime64[s]"),
                }
            ),
            "order_items": pd.DataFrame(
                {
                    "order_item_id": np.arange(1, len(qty) + 1),
                    "order_id": item_order + 1,
                    "product_id": item_product + 1,
                    "quantity": qty,
                    "unit_price": cents / 100,
                }
            ),
        }


def _day_events(
    day: dt.date, rng: np.random.Generator, shop: _Shop, orders: dict[str, np.ndarray]
) -> tuple[bytes, int, int]:
    """One day of clickstream as JSON lines; returns (content, late events, malformed lines)."""
    t0, ymd, n_orders = _sec(day), day.strftime("%Y%m%d"), len(orders["idx"])
    n = rng.poisson(RATES["events"] * shop.size)
    # funnel: page_view > product_view > add_to_cart > checkout > purchase (one per order)
    n_chk = n_orders + rng.binomial(n_orders, 0.3)
    n_atc = max(n_chk + 1, round(0.12 * n))
    n_pv = max(n_atc + 1, round(0.28 * n))
    n_pg = max(n_pv + 1, n - n_pv - n_atc - n_chk - n_orders)
    generic = np.repeat(np.arange(4), [n_pg, n_pv, n_atc, n_chk - n_orders])

    known = np.flatnonzero(shop.c["alive"] & (shop.c["signup"] < t0)) + 1
    n_sessions = max(1, len(generic) // 6)
    anonymous = (rng.random(n_sessions) < 0.4) | (len(known) == 0)
    sess_customer = np.where(anonymous, 0, rng.choice(known, n_sessions) if len(known) else 0)
    sess_start = t0 + rng.integers(0, DAY - 1800, n_sessions)
    session = rng.integers(0, n_sessions, len(generic))
    logged_in = np.flatnonzero(~anonymous)
    if len(logged_in):  # abandoned checkouts come from signed-in visitors
        session[generic == 3] = rng.choice(logged_in, (generic == 3).sum())
    product = np.zeros(len(generic), np.int64)
    browsing = (generic == 1) | (generic == 2)
    sellable = np.flatnonzero(shop.p["active"])
    pw = shop.p["weight"][sellable]
    product[browsing] = rng.choice(sellable, browsing.sum(), p=pw / pw.sum()) + 1

    # each order: a session with a checkout shortly before the purchase
    order_session = n_sessions + np.arange(n_orders)
    checkout_at = orders["at"] - rng.integers(0, np.minimum(600, orders["at"] - t0) + 1)
    etype = np.concatenate([generic, np.full(n_orders, 3), np.full(n_orders, 4)])
    at = np.concatenate(
        [sess_start[session] + rng.integers(0, 1800, len(generic)), checkout_at, orders["at"]]
    )
    customer = np.concatenate(
        [sess_customer[session], orders["customer"] + 1, orders["customer"] + 1]
    )
    session = np.concatenate([session, order_session, order_session])
    product = np.concatenate([product, np.zeros(2 * n_orders, np.int64)])
    order = np.concatenate([np.zeros(len(generic) + n_orders, np.int64), orders["idx"] + 1])
    by_arrival = np.lexsort((etype, at))
    etype, at, customer, session, product, order = (
        a[by_arrival] for a in (etype, at, customer, session, product, order)
    )

    total = len(etype)
    late = (rng.random(total) < 0.02) & (etype != 4)
    back = np.minimum(rng.integers(1, 4, late.sum()), (day - shop.start).days)
    late[late] = back > 0  # nothing happened before the shop opened
    at[late] -= back[back > 0] * DAY
    n_bad = max(1, rng.binomial(total, 0.002))
    bad = _pick(rng, np.flatnonzero(~late), n_bad)
    stamps = np.datetime_as_string(at.astype("datetime64[s]"), unit="s").tolist()
    types = np.array(EVENT_TYPES)[etype].tolist()
    cust = np.where(customer > 0, customer.astype(str), "null").tolist()
    prod = np.where(product > 0, product.astype(str), "null").tolist()
    ords = np.where(order > 0, order.astype(str), "null").tolist()
    sess = [f"s-{ymd}-{s:05d}" for s in session.tolist()]
    lines = [
        _LINE.format(f"ev-{ymd}-{i:06d}", *fields)
        for i, fields in enumerate(zip(types, stamps, cust, sess, prod, ords))
    ]
    for j, i in enumerate(sorted(bad.tolist())):  # kinds rotate, so every kind shows up
        kind = MALFORMED_KINDS[(day.toordinal() + j) % len(MALFORMED_KINDS)]
        fields = [f"ev-{ymd}-{i:06d}", types[i], stamps[i], cust[i], sess[i], prod[i], ords[i]]
        if kind in _BREAKS:
            fields[_BREAKS[kind][0]] = _BREAKS[kind][1]
        lines[i] = (
            lines[i][: len(lines[i]) // 2]
            if kind == "truncated"
            else _LINE_NO_ID.format(*fields[1:])
            if kind == "missing_event_id"
            else _LINE.format(*fields)
        )
    return ("\n".join(lines) + "\n").encode(), int(late.sum()), len(bad)


def _write_if_changed(path: Path, content: bytes) -> bool:
    """Write content atomically unless the file already holds exactly it; True if written."""
    if path.is_file() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    return True


def write_tables(engine: sa.engine.Engine, frames: dict[str, pd.DataFrame]) -> None:
    """Create the shop tables (with their indexes) on any SQLAlchemy engine and load frames."""
    with engine.begin() as conn:
        metadata.drop_all(conn)
        metadata.create_all(conn)
        for name in ("customers", "products", "orders", "order_items"):
            frames[name].to_sql(name, conn, if_exists="append", index=False, chunksize=50_000)


def generate(
    out_dir: Path, run_date: dt.date, start_date: dt.date, size: float = 1, seed: int = 42
) -> DemoSummary:
    """Write the demo shop database and clickstream for the window start_date..run_date.

    `out_dir/shop.db` holds the shop's tables as they stand at the end of run_date;
    `out_dir/events/date=YYYY-MM-DD/events.jsonl` holds one clickstream file per day of the
    window (files already holding the right bytes are left untouched, day folders outside
    the window are removed). `size` scales every volume linearly: size=1 is about 500
    customers at the start, 1,000 orders and 20,000 events a day. Same arguments, same bytes.
    """
    run_date, start_date = (
        d.date() if isinstance(d, dt.datetime) else d for d in (run_date, start_date)
    )
    if run_date < start_date:
        raise ConfigError(
            f"The demo run_date {run_date} is before its start_date {start_date}, so there is "
            "no day to generate. Pass a run_date on or after the start_date."
        )
    if not size > 0:
        raise ConfigError(
            f"The demo size must be a number above 0 (1 is about 1,000 orders a day, 0.05 a "
            f"small sample), got {size!r}. Set a positive size."
        )
    out_dir = Path(out_dir)
    events_dir = out_dir / "events"
    out_dir.mkdir(parents=True, exist_ok=True)
    if events_dir.is_dir():  # the folder reflects the window: drop days another run left
        for folder in events_dir.glob("date=*"):
            try:
                day = dt.date.fromisoformat(folder.name[len("date=") :])
            except ValueError:
                continue
            if folder.is_dir() and not start_date <= day <= run_date:
                shutil.rmtree(folder)

    shop = _Shop(start_date, size, np.random.default_rng([seed, start_date.toordinal(), 3]))
    files = lines = bad = late = 0
    day = start_date
    while day <= run_date:
        orders = shop.step(day, np.random.default_rng([seed, day.toordinal(), 1]))
        content, n_late, n_bad = _day_events(
            day, np.random.default_rng([seed, day.toordinal(), 2]), shop, orders
        )
        path = events_dir / f"date={day.isoformat()}" / "events.jsonl"
        files += _write_if_changed(path, content)
        lines, bad, late = lines + content.count(b"\n"), bad + n_bad, late + n_late
        day += dt.timedelta(days=1)

    frames, tmp = shop.frames(), out_dir / f".shop.db.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{tmp}")
    try:
        write_tables(engine, frames)
        engine.dispose()
        os.replace(tmp, out_dir / "shop.db")
    finally:
        engine.dispose()
        tmp.unlink(missing_ok=True)
    return DemoSummary(
        start_date=start_date,
        run_date=run_date,
        size=size,
        seed=seed,
        **{name: len(frame) for name, frame in frames.items()},
        deleted_customers=shop.deleted,
        event_files=(run_date - start_date).days + 1,
        files_written=files,
        events_lines=lines,
        malformed_lines=bad,
        late_events=late,
    )
