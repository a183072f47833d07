"""Loading sources into raw tables, through their contracts.

sources      the source files (sources/*.yml): tables, contracts, CSV dialects, freshness
contracts    a table's columns and rules; typing and checking of every value
csv_records  splitting a CSV file into records as a person counts them
readers      reading a file (CSV, JSON lines, Parquet) into checked Arrow tables
engine_csv   the engine's own CSV read, checked in SQL, for the files it can take
sql_extract  extracts from SQL databases through SQLAlchemy
cdc          change-data-capture tables: the current state of each key
ledger       loads, quarantined rows and the manifest of loaded files
load         planning, reading and swapping in a load: `ingest`
"""
