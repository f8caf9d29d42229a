"""How events get into the log: the signed webhook (webhook.py, signature.py), the ingestor that appends and wakes
the fan-out, and the backfill that fetches what was missed, bounded by per-workspace completeness marks."""
