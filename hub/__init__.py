"""The central image-review hub (ingest API, store, review queue, verdicts). Not built yet."""
