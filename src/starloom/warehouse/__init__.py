"""The warehouse: a ClickHouse client (embedded chdb or a server by URL) and the statements
starloom writes to it.

client  the connection, queries, inserts, sessions and the writer lock
ddl     CREATE / EXCHANGE / DROP statements, ON CLUSTER when a cluster is set
"""

from starloom.warehouse.client import Warehouse, connect, quote_identifier, quote_literal

__all__ = ["Warehouse", "connect", "quote_identifier", "quote_literal"]
