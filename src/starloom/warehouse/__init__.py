"""The warehouse: a ClickHouse client (embedded chdb or a server by URL) and the statements
starloom writes to it.

client  the connection, queries, inserts, sessions and the writer lock
ddl     the CREATE / ALTER / EXCHANGE / DROP statements of every table, ON CLUSTER when a
        cluster is set (the writer lock of client is a table on the one server it talks to)
state   the bookkeeping tables (starloom_*): their registry, versions and migration
"""

from starloom.warehouse.client import Warehouse, connect, quote_identifier, quote_literal

__all__ = ["Warehouse", "connect", "quote_identifier", "quote_literal"]
