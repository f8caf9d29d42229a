"""The event log that replicas share: one NATS JetStream stream, its KV buckets (marks, leases), and the bounded
state a replica keeps (recent events, an on-disk sid set)."""
