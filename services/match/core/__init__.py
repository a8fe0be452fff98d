"""Pure matching logic: text normalisation, control codes, watchlists, the term index and the rules.

No broker, HTTP, database or metrics imports here; ``engine.Matcher`` is the entry point.
"""
