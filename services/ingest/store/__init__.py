"""The ingest service's durable state: items already published, near-duplicate sketches, source state."""
