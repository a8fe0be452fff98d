"""Default watchlists shipped with the match service (YAML, reviewed; see each entry's rationale)."""
