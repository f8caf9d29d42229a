"""The embedded event log: one SQLite file in WAL mode."""
