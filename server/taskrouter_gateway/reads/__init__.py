"""One read for many callers: identical concurrent reads share one upstream request (inflight.py), answers are
kept in a bounded cache that TaskRouter's events end early (cache.py, invalidation.py), and per-queue real-time
statistics are fetched in bulk under TaskRouter's 5 requests a second (queue_statistics.py, window.py).

Knows nothing of gRPC: the servicers (services/base.py) decide what is read through here and say where an
answer came from in its metadata.
"""
