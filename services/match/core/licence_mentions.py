"""The mentions of one licence record, found once: its high-risk destination and its watched codes,
catch-alls, technology terms and vendors. The licence rules read this."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import EvidenceKind, LicenceRecord
from services.match.core.codes import ControlCode
from services.match.core.mentions import Compiled, Fields, Mention, code_mentions, disambiguate, hit_mentions
from services.match.core.terms import Hit


@dataclass(frozen=True, slots=True)
class LicenceMentions:
    """Everything the licence rules read about one record."""

    record: LicenceRecord
    fields: Fields
    destinations: list[Mention]  # empty when the destination is not a high-risk country that alerts
    signals: list[Mention]  # watched codes, catch-alls, technology terms and vendors


def analyse_licence(c: Compiled, record: LicenceRecord) -> LicenceMentions:
    fields = _licence_fields(record)
    return LicenceMentions(
        record, fields, _licence_destinations(c, record), _licence_signals(c, record, fields)
    )


def _licence_destinations(c: Compiled, record: LicenceRecord) -> list[Mention]:
    alerting = c.lists.alert_tiers
    found: list[Mention] = []
    name_hits: list[Hit] = []
    if record.destination_name:
        name_hits = c.index.scan("destination_name", record.destination_name, None, kinds=("destination",))
    if record.destination_country:
        code = record.destination_country
        entry = c.lists.destinations.get(code)
        if entry is None or entry.tier not in alerting:
            return []
        found.append(Mention("destination_country", 0, len(code), EvidenceKind.DESTINATION, code))
        found.extend(m for m in hit_mentions(c, name_hits) if m.ref == code)
        return found
    for m in hit_mentions(c, name_hits):
        if c.lists.destinations[m.ref].tier in alerting:
            found.append(m)
    return found


def _licence_fields(record: LicenceRecord) -> Fields:
    """The licence's text fields by path, goods first (the order evidence is listed in)."""
    values: dict[str, str] = {}
    for i, item in enumerate(record.items):
        if item.control_code:
            values[f"items.{i}.control_code"] = item.control_code
        if item.description:
            values[f"items.{i}.description"] = item.description
    if record.destination_country:
        values["destination_country"] = record.destination_country
    if record.destination_name:
        values["destination_name"] = record.destination_name
    for name in ("exporter", "end_user"):
        value = getattr(record, name)
        if value:
            values[name] = value
    return Fields(values)


def _code_field_mentions(c: Compiled, code_field: str, value: str) -> list[Mention]:
    """A watched code in an item's code field, or else a catch-all written there."""
    found = code_mentions(c, code_field, value, whole_field=True)
    if found or ControlCode.parse(value) is not None:
        return found
    catch = c.catch_all(value)
    if catch is None:
        return []
    start, end, catch_entry = catch
    return [
        Mention(
            code_field,
            start,
            end,
            EvidenceKind.CONTROL_CODE,
            catch_entry.id,
            (),
            "catch_all",
            catch_entry.label,
        )
    ]


def _description_mentions(c: Compiled, desc_field: str, value: str, fields: Fields) -> list[Mention]:
    """Watched codes, technology terms and vendors in an item's description."""
    scanned = c.index.scan(desc_field, value, None, kinds=("technology", "vendor", "context", "code"))
    codes = code_mentions(c, desc_field, value, whole_field=False, hits=scanned)
    hits = [h for h in scanned if h.kind != "code"]
    return [*codes, *hit_mentions(c, disambiguate(hits, fields, codes))]


def _licence_signals(c: Compiled, record: LicenceRecord, fields: Fields) -> list[Mention]:
    """Watched codes, catch-alls, technology terms and vendors on a licence."""
    signals: list[Mention] = []
    for i, item in enumerate(record.items):
        if item.control_code:
            signals.extend(_code_field_mentions(c, f"items.{i}.control_code", item.control_code))
        if item.description:
            signals.extend(_description_mentions(c, f"items.{i}.description", item.description, fields))
    for name in ("exporter", "end_user"):
        if name in fields.values:
            hits = c.index.scan(name, fields.values[name], None, kinds=("vendor",))
            signals.extend(hit_mentions(c, [h for h in hits if not h.info.ambiguous]))
    return signals
