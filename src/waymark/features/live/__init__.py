"""Live updates: what is published on the live channels (from the outbox, after commit), who
may follow which channel, and the streams that carry them to clients (docs/live.md)."""
