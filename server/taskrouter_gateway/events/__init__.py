"""Event ingestion: webhook receiver -> normaliser -> durable, deduplicated event log -> fan-out to subscribers."""
