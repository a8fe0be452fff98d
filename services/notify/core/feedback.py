"""Researchers' feedback on alerts (pure): the reasons a researcher can give, in plain words.

CONTRACT (issue 19): ``REASONS`` (id -> label) and ``NOT_RELEVANT``/``RELEVANT`` are what the API and
the console offer; precision and the eval-case export are being written (branch ``feedback``).
"""

from __future__ import annotations

# Why an alert was not relevant: id -> what the console shows.
NOT_RELEVANT: dict[str, str] = {
    "wrong_destination": "Wrong destination country",
    "not_surveillance": "Not surveillance technology",
    "domestic_use": "Domestic use, no export",
    "duplicate": "Duplicate of another alert",
    "wrong_vendor": "Wrong company",
    "old_news": "Old news, not a new deal",
    "other": "Another reason (say in the note)",
}
# Why an alert was relevant (optional).
RELEVANT: dict[str, str] = {
    "new_deal": "A new deal or licence",
    "new_detail": "New detail on a known case",
    "other": "Another reason (say in the note)",
}
REASONS: dict[str, str] = {**NOT_RELEVANT, **RELEVANT}
