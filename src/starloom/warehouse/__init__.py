"""The warehouse: a ClickHouse client (embedded chdb or a server by URL) and the statements
starloom writes to it.

client  the connection, queries, inserts, sessions and the writer lock
ddl     every CREATE / ALTER / EXCHANGE / DROP statement, ON CLUSTER when a cluster is set
state   the bookkeeping tables (starloom_*): their registry, versions and migration
"""

from starloom.warehouse.client import Warehouse, connect, quote_identifier, quote_literal

__all__ = ["Warehouse", "connect", "quote_identifier", "quote_literal"]
