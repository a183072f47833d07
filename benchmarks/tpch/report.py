# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # TPC-H star report
# Revenue by year and region, the leading nations and the top customers, read from the star
# that the benchmark built (`fct_lineorder`, `dim_customer`).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import display

from starloom.settings import Settings
from starloom.warehouse import Warehouse

# %% tags=["parameters"]
project_dir = "."
warehouse_path = ".warehouse"
database = "tpch"

# %%
wh = Warehouse(
    Settings(
        project_dir=Path(project_dir),
        warehouse_path=Path(warehouse_path),
        database=database,
        memory_limit_mb=int(os.environ.get("STARLOOM_MEMORY_LIMIT_MB") or 0),  # as the bench's
    )
)

# %% [markdown]
# ## Revenue by year and region

# %%
by_year = wh.query_df(
    "SELECT toYear(f.order_date) AS year, c.region AS region, "
    "toFloat64(sum(f.revenue)) AS revenue "
    "FROM fct_lineorder AS f INNER JOIN dim_customer AS c ON c.customer_key = f.customer_key "
    "GROUP BY year, region ORDER BY year, region"
)
pivot = by_year.pivot(index="year", columns="region", values="revenue").fillna(0)
last = wh.scalar("SELECT max(order_date) FROM fct_lineorder")  # the last year may be partial
partial = (
    f" ({last.year}: orders up to {last:%Y-%m-%d})" if (last.month, last.day) != (12, 31) else ""
)
ax = (pivot / 1e6).plot(figsize=(8, 3.5), marker="o", title="Revenue by year and region" + partial)
ax.set_ylabel("revenue (millions)")
ax.set_ylim(bottom=0)
ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
display((pivot / 1e6).round(2))

# %% [markdown]
# ## Nations by revenue
# Orders are counted by their first line (every order has a line 1), which needs no set of
# distinct order keys in memory.

# %%
nations = wh.query_df(
    "SELECT c.nation AS nation, c.region AS region, countIf(f.line_number = 1) AS orders, "
    "round(toFloat64(sum(f.revenue)) / 1e6, 2) AS revenue_millions "
    "FROM fct_lineorder AS f INNER JOIN dim_customer AS c ON c.customer_key = f.customer_key "
    "GROUP BY nation, region ORDER BY revenue_millions DESC LIMIT 10"
)
display(nations)

# %% [markdown]
# ## Top customers

# %%
top = wh.query_df(
    "SELECT c.name AS customer, c.nation AS nation, c.mktsegment AS segment, "
    "countIf(f.line_number = 1) AS orders, toFloat64(sum(f.revenue)) AS revenue "
    "FROM fct_lineorder AS f INNER JOIN dim_customer AS c ON c.customer_key = f.customer_key "
    "GROUP BY customer, nation, segment ORDER BY revenue DESC LIMIT 10"
)
display(top)

# %% [markdown]
# ## What the figures promise
# The regions add up to the whole fact: every line has its customer.

# %%
total = float(wh.scalar("SELECT sum(revenue) FROM fct_lineorder"))
print("regions add up to the fact's revenue:", abs(pivot.to_numpy().sum() - total) <= 1e-9 * total)
print("top customers ranked by revenue:", bool(top.revenue.is_monotonic_decreasing))
