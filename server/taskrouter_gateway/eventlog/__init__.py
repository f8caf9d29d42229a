"""The durable, deduplicated event log: the EventLog interface (log.py), what it stores (records.py), and its
two backends, sqlite/ (the embedded default) and jetstream/ (replicas sharing one NATS JetStream stream).

Imports point down only: ingest/ and stream/ use this package; it uses neither of them.
"""
