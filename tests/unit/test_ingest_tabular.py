"""The configured CSV adapter on files shaped like real authorities' exports, and the decoder under it:
Dutch semicolons and decimal commas, a German spreadsheet with a title above the header, an English
register with quoted multi-line cells, files that are half UTF-8 and half Windows-1252."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from schemas import Decision, LicenceRecord
from services.ingest.core.caat import parse_caat_values
from services.ingest.core.decoding import decode_lines
from services.ingest.core.results import Parsed, Rejected
from services.ingest.core.tabular import REASONS, parse_csv, sniff_delimiter
from services.ingest.core.tabular_mapping import CsvMapping

# A Dutch monthly list as an operator configures it in the sources file.
NL_YAML = """
authority: "NL Centrale Dienst voor In- en Uitvoer"
licensing_country: NL
id_prefix: nl-cdiu
delimiter: ";"
date_formats: ["%d-%m-%Y"]
decimal_separator: ","
currency: EUR
columns:
  licence_number: Vergunningnummer
  decided_on: Datum
  destination: Land van bestemming
  control_code: Rubriek
  description: Omschrijving goederen
  value: Waarde (EUR)
  decision: Besluit
decisions: {Verleend: granted, Afgewezen: refused, Ingetrokken: revoked}
code_separator: "/"
extra_columns: {end_use: Eindgebruik}
"""
NL_CSV = (
    "Vergunningnummer;Datum;Land van bestemming;Rubriek;Omschrijving goederen;Eindgebruik;"
    "Waarde (EUR);Besluit\r\n"
    "NL-2023-0412;03-01-2023;Verenigde Arabische Emiraten;5A001j;"
    "IP-netwerkbewakingssysteem;Politie;1.250.000,00;Verleend\r\n"
    "NL-2023-0413;03-01-2023;Wit-Rusland;5A002a1 / 5D002c1;Versleutelingsapparatuur;"
    'Telecomoperator;"12.500,50";Afgewezen\r\n'
    "\r\n"
    "NL-2023-0414;05-01-2023;Saoedi-Arabië;5A004b;Software voor forensisch onderzoek van telefoons;"
    "Politie;86 400;VERLEEND \r\n"
    "NL-2023-0415;05-01-2023;Verenigde Staten;5D002c1;Versleutelingssoftware;Bank;;Ingetrokken\r\n"
).encode()

# A German quarterly spreadsheet saved as CSV by Excel: Windows-1252, a title and a date above the
# header, dd.mm.yyyy, decimal commas, an ISO code column beside the name.
DE_MAPPING: dict[str, Any] = {
    "authority": "DE BAFA",
    "licensing_country": "DE",
    "header_row": 3,
    "date_formats": ["%d.%m.%Y"],
    "decimal_separator": ",",
    "currency": "EUR",
    "default_decision": "granted",
    "columns": {
        "decided_on": "Datum",
        "exporter": "Ausführer",
        "destination": "Bestimmungsland",
        "destination_code": "Land-Code",
        "control_code": "AL-Position",
        "description": "Warenbeschreibung",
        "value": "Wert (EUR)",
        "decision": "Entscheidung",
    },
    "decisions": {"Genehmigt": "granted", "Abgelehnt": "refused"},
}
DE_CSV = (
    "Ausfuhrgenehmigungen für Dual-Use-Güter, 1. Quartal 2024;;;;;;;\r\n"
    "Stand: 15.04.2024;;;;;;;\r\n"
    "Datum;Ausführer;Bestimmungsland;Land-Code;AL-Position;Warenbeschreibung;Wert (EUR);Entscheidung\r\n"
    "02.01.2024;Beispiel Überwachungstechnik GmbH;Türkei;TR;5A001j;IP-Überwachungssystem;"
    "1.250.000;Genehmigt\r\n"
    "02.01.2024;Muster Funk AG;Ägypten;;5A001f;Mobilfunk-Abhörsystem;"
    "480.000,00;Abgelehnt\r\n"
    "03.01.2024;Muster Funk AG;Vereinigte Arabische Emirate;AE;5A001f;Mobilfunk-Abhörsystem;"
    "95.000;\r\n"
    ";;;;;;;\r\n"
    "04.01.2024;Beispiel Überwachungstechnik GmbH;Atlantis;XX;5A001j;IP-Überwachungssystem;"
    "12.000;Genehmigt\r\n"
).encode("cp1252")

# An English register: UTF-8 with BOM, commas, quoted cells (a value with thousands commas, a
# description over two lines, a list of codes), header names in another case and spacing.
EN_MAPPING: dict[str, Any] = {
    "authority": "Example Export Control Agency",
    "licensing_country": "SE",
    "date_formats": ["%d/%m/%Y"],
    "code_separator": ",",
    "columns": {
        "licence_number": "Licence No",
        "decided_on": "Decision date",
        "destination": "Destination",
        "control_code": "Control entries",
        "description": "Goods",
        "value": "Value",
        "currency": "Currency",
        "end_user": "End user",
        "decision": "Outcome",
    },
}
EN_CSV = (
    "\ufeffLICENCE NO , Decision  Date,destination,Control Entries,Goods,End User,Value,Currency,Outcome\n"
    'EX-1001,12/03/2024,Egypt,"5A001.j, 5D001.e","Deep packet inspection platform\n'
    'with monitoring centre",Ministry of Interior,"1,250,000.00",USD,Approved\n'
    'EX-1002,13/03/2024,"Korea, South",5A002,Encryption module,Telecom operator,"9,800",SEK,Denied\n'
).encode("utf-8")


def nl_mapping(**changes: Any) -> CsvMapping:
    return CsvMapping.model_validate({**yaml.safe_load(NL_YAML), **changes})


def records(results: list[Parsed]) -> list[LicenceRecord]:
    return [r for r in results if isinstance(r, LicenceRecord)]


def rejections(results: list[Parsed]) -> list[tuple[int | None, str]]:
    return [(r.line, r.reason) for r in results if isinstance(r, Rejected)]


# --- the three realistic files ---------------------------------------------------------------


def test_dutch_list() -> None:
    results = list(parse_csv(NL_CSV, nl_mapping(), "vergunningen-2023-01.csv"))
    assert rejections(results) == []
    got = [
        (
            r.model_extra and r.model_extra["licence_number"],
            r.destination_country,
            [i.control_code for i in r.items],
            r.value,
            r.currency,
            r.decision,
            r.decided_on,
        )
        for r in records(results)
    ]
    jan3, jan5 = dt.date(2023, 1, 3), dt.date(2023, 1, 5)
    assert got == [
        ("NL-2023-0412", "AE", ["5A001j"], 1_250_000.0, "EUR", Decision.GRANTED, jan3),
        ("NL-2023-0413", "BY", ["5A002a1", "5D002c1"], 12_500.5, "EUR", Decision.REFUSED, jan3),
        ("NL-2023-0414", "SA", ["5A004b"], 86_400.0, "EUR", Decision.GRANTED, jan5),
        ("NL-2023-0415", "US", ["5D002c1"], None, None, Decision.REVOKED, jan5),
    ]
    first = records(results)[0]
    assert first.id.startswith("nl-cdiu-")
    assert (first.authority, first.licensing_country) == ("NL Centrale Dienst voor In- en Uitvoer", "NL")
    assert first.destination_name == "Verenigde Arabische Emiraten"
    assert first.items[0].description == "IP-netwerkbewakingssysteem"
    assert first.model_extra == {"end_use": "Politie", "licence_number": "NL-2023-0412"}


def test_german_spreadsheet_with_a_title_above_the_header() -> None:
    mapping = CsvMapping.model_validate(DE_MAPPING)
    results = list(parse_csv(DE_CSV, mapping, "bafa-2024-q1.csv"))
    assert rejections(results) == []
    got = [
        (r.exporter, r.destination_name, r.destination_country, r.value, r.decision) for r in records(results)
    ]
    assert got == [
        ("Beispiel Überwachungstechnik GmbH", "Türkei", "TR", 1_250_000.0, Decision.GRANTED),
        ("Muster Funk AG", "Ägypten", "EG", 480_000.0, Decision.REFUSED),
        # an empty decision cell: the configured default
        ("Muster Funk AG", "Vereinigte Arabische Emirate", "AE", 95_000.0, Decision.GRANTED),
        # "XX" is no country code and "Atlantis" no country: kept as published, never guessed
        ("Beispiel Überwachungstechnik GmbH", "Atlantis", None, 12_000.0, Decision.GRANTED),
    ]
    assert mapping.prefix == "de-bafa"
    assert mapping.identity_headers() == [
        "Ausführer",
        "Bestimmungsland",
        "Land-Code",
        "AL-Position",
        "Datum",
    ]


def test_english_register_with_quoted_multiline_cells() -> None:
    results = list(parse_csv(EN_CSV, CsvMapping.model_validate(EN_MAPPING), "register.csv"))
    assert rejections(results) == []
    egypt, korea = records(results)
    assert [i.control_code for i in egypt.items] == ["5A001.j", "5D001.e"]
    assert egypt.items[0].description == "Deep packet inspection platform\nwith monitoring centre"
    assert (egypt.value, egypt.currency, egypt.end_user) == (1_250_000.0, "USD", "Ministry of Interior")
    assert (egypt.decision, egypt.decided_on) == (Decision.GRANTED, dt.date(2024, 3, 12))
    assert (korea.destination_country, korea.value, korea.currency, korea.decision) == (
        "KR",
        9800.0,
        "SEK",
        Decision.REFUSED,
    )


# --- every rejection reason, with its physical line ---------------------------------------------

NL_HEADER = (
    "Vergunningnummer;Datum;Land van bestemming;Rubriek;Omschrijving goederen;Eindgebruik;"
    "Waarde (EUR);Besluit\n"
)
GOOD = "NL-1;03-01-2023;China;5A001j;Bewakingssysteem;Politie;100,00;Verleend\n"


@pytest.mark.parametrize(
    ("row", "reason", "detail"),
    [
        ("NL-2;31-02-2023;China;5A001j;x;Politie;100;Verleend\n", "invalid_date", "'31-02-2023'"),
        ("NL-2;2023-01-03;China;5A001j;x;Politie;100;Verleend\n", "invalid_date", "%d-%m-%Y"),
        ("NL-2;03-01-2023;China;5A001j;x;Politie;veel;Verleend\n", "invalid_value", "'veel'"),
        ("NL-2;03-01-2023;China;5A001j;x;Politie;1.5;Verleend\n", "invalid_value", "decimal separator"),
        ("NL-2;03-01-2023;China;5A001j;x;Politie;-100;Verleend\n", "invalid_value", "negative"),
        ("NL-2;03-01-2023;China;5A001j;x;Politie;12.34.5;Verleend\n", "invalid_value", "12.34.5"),
        ("NL-2;03-01-2023;China;5A001j;x;Politie;100;Misschien\n", "invalid_decision", "'Misschien'"),
        ("NL-2;03-01-2023;;5A001j;x;Politie;100;Verleend\n", "missing_field", "Land van bestemming"),
        (";03-01-2023;China;5A001j;x;Politie;100;Verleend\n", "missing_field", "licence_number"),
        ("NL-2;;China;5A001j;x;Politie;100;Verleend\n", "missing_field", "decided_on"),
        ("NL-2;03-01-2023;China;5A001j;x;Politie;100;Verleend;extra;cells\n", "invalid_csv", "10 cells"),
        ("NL-2;03-01-2023;China;5A001j;" + "x" * 100_001 + ";Politie;100;Verleend\n", "too_large", "100"),
        ("NL-2;03-01-2023;China;5A001j;" + "x" * 200_000 + ";Politie;100;Verleend\n", "too_large", "quote"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason_and_the_file_goes_on(
    row: str, reason: str, detail: str
) -> None:
    data = (NL_HEADER + GOOD + row + GOOD.replace("NL-1", "NL-3")).encode("utf-8")
    results = list(parse_csv(data, nl_mapping(), "nl.csv"))
    (rejected,) = [r for r in results if isinstance(r, Rejected)]
    assert (rejected.reason, rejected.line, rejected.source) == (reason, 3, "nl.csv")
    assert detail in rejected.detail
    assert rejected.raw.startswith(b"NL-2;") or rejected.raw.startswith(b";03")
    assert [r.model_extra and r.model_extra["licence_number"] for r in records(results)] == ["NL-1", "NL-3"]


def test_a_header_without_the_configured_columns_is_one_rejection() -> None:
    data = ("Nummer;Datum;Land\n" + GOOD * 3).encode()
    results = list(parse_csv(data, nl_mapping(), "nl.csv"))
    assert len(results) == 1 and isinstance(results[0], Rejected)
    assert (results[0].reason, results[0].line) == ("invalid_csv", 1)
    assert "'Land van bestemming'" in results[0].detail and "'Nummer'" in results[0].detail


def test_a_wrong_header_row_is_pointed_at() -> None:
    mapping = CsvMapping.model_validate({**DE_MAPPING, "header_row": 1})
    (result,) = list(parse_csv(DE_CSV, mapping, "bafa.csv"))
    assert isinstance(result, Rejected) and result.reason == "invalid_csv"
    assert "set header_row: 3" in result.detail


def test_every_reason_is_covered_and_listed() -> None:
    assert set(REASONS) == {
        "invalid_csv",
        "invalid_date",
        "invalid_value",
        "invalid_decision",
        "missing_field",
        "too_large",
        "invalid_encoding",
    }


def test_blank_lines_are_skipped_and_lines_stay_physical() -> None:
    data = (NL_HEADER + "\n\n" + GOOD + ";;;;;;;\n" + GOOD.replace("100,00", "x")).encode()
    results = list(parse_csv(data, nl_mapping(), "nl.csv"))
    assert len(records(results)) == 1
    assert rejections(results) == [(6, "invalid_value")]


# --- encodings -------------------------------------------------------------------------------

MIXED = b"".join(
    [
        NL_HEADER.encode("utf-8"),
        "NL-1;03-01-2023;Côte d’Ivoire;5A001j;Bewakingssysteem;Politie;100;Verleend\n".encode(),
        "NL-2;03-01-2023;Türkei;5A001j;Überwachung;Politie;100;Verleend\n".encode("cp1252"),
        "NL-3;03-01-2023;Côte d’Ivoire;5A001j;Bewakingssysteem;Politie;100;Verleend\n".encode("cp1252"),
        b"NL-4;03-01-2023;T\x81rkei;5A001j;x;Politie;100;Verleend\n",
        "NL-5;03-01-2023;Émirats arabes unis;5A001j;x;Politie;100;Verleend\n".encode(),
    ]
)


def test_a_file_half_utf8_half_cp1252_keeps_every_clean_row() -> None:
    results = list(parse_csv(MIXED, nl_mapping(), "mixed.csv"))
    got = [(r.destination_name, r.destination_country) for r in records(results)]
    assert got == [
        ("Côte d’Ivoire", "CI"),
        ("Türkei", "TR"),
        ("Côte d’Ivoire", "CI"),
        ("Émirats arabes unis", "AE"),
    ]
    assert records(results)[1].items[0].description == "Überwachung"
    (bad,) = [r for r in results if isinstance(r, Rejected)]
    assert (bad.line, bad.reason) == (5, "invalid_encoding")
    assert bad.raw == b"NL-4;03-01-2023;T\x81rkei;5A001j;x;Politie;100;Verleend"  # the original bytes


def test_a_configured_encoding_is_used() -> None:
    data = (NL_HEADER + GOOD.replace("China", "Türkei")).encode("latin-1")
    (record,) = list(parse_csv(data, nl_mapping(encoding="latin-1"), "nl.csv"))
    assert isinstance(record, LicenceRecord) and record.destination_country == "TR"


def test_utf16_with_bom_as_excel_saves_unicode_text() -> None:
    data = (NL_HEADER + GOOD).replace(";", "\t").encode("utf-16")
    (record,) = list(parse_csv(data, nl_mapping(delimiter=None), "nl.txt"))
    assert isinstance(record, LicenceRecord) and record.destination_country == "CN"


@pytest.mark.parametrize(
    ("data", "encoding", "lines", "used", "fallback", "replaced"),
    [
        (b"a\nb\n", None, ("a\n", "b\n"), "utf-8", set(), set()),
        (b"\xef\xbb\xbfa\r\nb", None, ("a\r\n", "b"), "utf-8", set(), set()),
        ("\ufeffä\nß\n".encode("utf-16-le"), None, ("ä\n", "ß\n"), "utf-16", set(), set()),
        ("\ufeffä\nß".encode("utf-16-be"), None, ("ä\n", "ß"), "utf-16", set(), set()),
        ("\ufeffä\n".encode("utf-32-le"), "cp1252", ("ä\n",), "utf-32", set(), set()),  # a BOM wins
        ("Türkei\nÄgypten\n".encode("cp1252"), None, ("Türkei\n", "Ägypten\n"), "cp1252", {1, 2}, set()),
        (b"ok\nT\xc3\xbcrkei\nT\xfcrkei\n", None, ("ok\n", "Türkei\n", "Türkei\n"), "mixed", {3}, set()),
        (b"a\n\x81\x8d\n", None, ("a\n", "\ufffd\ufffd\n"), "cp1252", {2}, {2}),
        (b"T\xfcrkei\n", "latin-1", ("Türkei\n",), "iso8859-1", set(), set()),
        (b"a\nT\xfcrkei\n", "utf-8", ("a\n", "T\ufffdrkei\n"), "utf-8", {2}, {2}),
        (b"a\rb\r", None, ("a\r", "b\r"), "utf-8", set(), set()),
        (b"", None, (), "utf-8", set(), set()),
    ],
)
def test_decode_lines(
    data: bytes,
    encoding: str | None,
    lines: tuple[str, ...],
    used: str,
    fallback: set[int],
    replaced: set[int],
) -> None:
    decoded = decode_lines(data, encoding)
    assert (decoded.lines, decoded.encoding) == (lines, used)
    assert (decoded.fallback_lines, decoded.replaced_lines) == (fallback, replaced)


def test_caat_values_with_mixed_encodings_keeps_utf8_rows_and_rejects_undecodable_ones() -> None:
    data = (
        b"licence_group,date,rating,count,value,country,refused\n"
        + "1,2014-01-02,5A001,1,100,Côte d’Ivoire,0\n".encode()
        + "2,2014-01-02,5A001,1,100,Côte d’Ivoire,0\n".encode("cp1252")
        + b"3,2014-01-02,5A001,1,100,Atl\x81ntis,0\n"
    )
    results = list(parse_caat_values(data, "values.csv"))
    assert [r.destination_country for r in records(results)] == ["CI", "CI"]
    assert rejections(results) == [(4, "invalid_encoding")]


# --- ids ---------------------------------------------------------------------------------------


def ids(data: bytes, mapping: CsvMapping) -> list[str | None]:
    return [r.id if isinstance(r, LicenceRecord) else None for r in parse_csv(data, mapping, "x.csv")]


def test_ids_are_stable_across_reads() -> None:
    assert ids(NL_CSV, nl_mapping()) == ids(NL_CSV, nl_mapping())
    assert len(set(ids(NL_CSV, nl_mapping()))) == 4


def test_a_corrected_value_or_decision_keeps_the_id() -> None:
    corrected = NL_CSV.replace(b"1.250.000,00;Verleend", b"1.350.000,00;Ingetrokken")
    before, after = (
        records(list(parse_csv(NL_CSV, nl_mapping(), "a.csv"))),
        records(list(parse_csv(corrected, nl_mapping(), "b.csv"))),
    )
    assert [r.id for r in before] == [r.id for r in after]
    assert (after[0].value, after[0].decision) == (1_350_000.0, Decision.REVOKED)


def test_ids_ignore_spacing_case_and_the_order_of_codes() -> None:
    respaced = NL_CSV.replace(b"5A002a1 / 5D002c1", b"5d002c1/5A002A1").replace(
        b"Wit-Rusland", b"  wit-rusland "
    )
    assert ids(NL_CSV, nl_mapping()) == ids(respaced, nl_mapping())


def test_without_a_licence_number_same_looking_rows_get_distinct_stable_ids() -> None:
    mapping = CsvMapping.model_validate({**DE_MAPPING, "header_row": 3})
    twin = DE_CSV + DE_CSV.splitlines(keepends=True)[3]  # the first data row again, as a second licence
    first, second = ids(twin, mapping), ids(twin, mapping)
    assert first == second
    assert len(set(first)) == len(first) == 5
    # correcting the value of the second twin keeps both ids
    changed = twin[: -len(b"1.250.000;Genehmigt\r\n")] + b"1.300.000;Genehmigt\r\n"
    assert ids(changed, mapping) == first


def test_an_explicit_identity() -> None:
    mapping = nl_mapping(identity=["Vergunningnummer"])
    moved = NL_CSV.replace(b"Verenigde Arabische Emiraten", b"Qatar")
    assert ids(NL_CSV, mapping)[0] == ids(moved, mapping)[0]
    assert ids(NL_CSV, nl_mapping())[0] != ids(moved, nl_mapping())[0]


# --- destinations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "country", "published"),
    [
        ("Atlantis", "", None, "Atlantis"),  # unknown: kept, never guessed
        ("Serbia and Montenegro", "", None, "Serbia and Montenegro"),
        ("Atlantis", "AE", "AE", "Atlantis"),  # a valid code wins
        ("Egypte", "xx", "EG", "Egypte"),  # an invalid code falls back to the name
        ("Griekenland", "EL", "GR", "Griekenland"),  # EU usage
        ("", "ae", "AE", "ae"),  # only a code: kept as the published name too
    ],
)
def test_destination_rules(name: str, code: str, country: str | None, published: str) -> None:
    mapping = nl_mapping(
        columns={**yaml.safe_load(NL_YAML)["columns"], "destination_code": "Landcode"},
        required=["destination"],
    )
    data = (
        NL_HEADER.replace("Besluit", "Besluit;Landcode")
        + f"NL-1;03-01-2023;{name};5A001j;x;Politie;100;Verleend;{code}\n"
    ).encode()
    (record,) = list(parse_csv(data, mapping, "nl.csv"))
    assert isinstance(record, LicenceRecord)
    assert (record.destination_country, record.destination_name) == (country, published)


# --- configuration -----------------------------------------------------------------------------


def test_the_yaml_of_an_operator_validates() -> None:
    mapping = nl_mapping()
    assert mapping.prefix == "nl-cdiu"
    assert mapping.decisions == {
        "verleend": Decision.GRANTED,
        "afgewezen": Decision.REFUSED,
        "ingetrokken": Decision.REVOKED,
    }
    assert mapping.identity_headers() == ["Vergunningnummer", "Rubriek", "Land van bestemming"]
    assert mapping.required_fields() == ["licence_number", "destination", "control_code", "decided_on"]


def test_defaults() -> None:
    mapping = CsvMapping.model_validate(
        {"authority": "Autorité française", "licensing_country": "fr", "columns": {"destination": "Pays"}}
    )
    assert mapping.prefix == "autorite-francaise"
    assert mapping.licensing_country == "FR"
    assert mapping.delimiter is None and mapping.encoding is None and mapping.header_row == 1
    assert mapping.default_decision is Decision.UNKNOWN
    assert mapping.decisions["approved"] is Decision.GRANTED
    assert mapping.date_formats == ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": {"destinaton": "Land"}}, "columns: Value error, unknown key 'destinaton' (did you mean"),
        ({"delimeter": ";"}, "unknown key 'delimeter' (did you mean 'delimiter'?)"),
        ({"columns": {"description": "Omschrijving"}}, "map at least one of destination"),
        ({"licensing_country": "Netherlands"}, "licensing_country"),
        ({"licensing_country": "XX"}, "licensing_country: Value error, 'XX' is not an ISO alpha-2"),
        ({"licensing_country": False}, "quote the code"),
        ({"encoding": "utf-9"}, "encoding: Value error, 'utf-9' is not a known text encoding"),
        ({"date_formats": ["%d-%m-%Y", "%Y-%m-%Q"]}, "does not read back"),
        ({"date_formats": ["%d %B"]}, "has no year"),
        ({"date_formats": []}, "date_formats"),
        ({"delimiter": ":"}, "delimiter"),
        ({"decimal_separator": ",", "thousands_separator": ","}, "must differ"),
        ({"decisions": {"Verleend": "granted", "VERLEEND ": "refused"}}, "given twice"),
        ({"decisions": {"Verleend": "approved"}}, "decisions.Verleend"),
        ({"required": ["exporter"]}, "'exporter' is not mapped"),
        ({"extra_columns": {"value": "Waarde"}}, "must be a new lower_case field name"),
        ({"id_prefix": "NL CDIU"}, "id_prefix"),
    ],
)
def test_configuration_mistakes_are_readable(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        nl_mapping(**change)
    text = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in info.value.errors(include_url=False)
    )
    assert message in text


def test_yaml_numbers_as_decision_keys() -> None:
    mapping = nl_mapping(decisions={0: "granted", 1: "refused"})
    assert mapping.decisions == {"0": Decision.GRANTED, "1": Decision.REFUSED}
    with pytest.raises(ValidationError, match="quote it"):
        nl_mapping(decisions={True: "granted"})


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("Land van bestemming;Rubriek;Datum", ";"),
        ("Land van bestemming,Rubriek,Datum", ","),
        ("Land van bestemming\tRubriek\tDatum", "\t"),
        ("Land van bestemming|Rubriek|Datum", "|"),
        ('"Land van bestemming, of doorvoer";Rubriek;Datum', ";"),
    ],
)
def test_sniff_delimiter(header: str, delimiter: str) -> None:
    wanted = {"land van bestemming", "rubriek", "datum", "land van bestemming, of doorvoer"}
    assert sniff_delimiter([header + "\n", header + "\n"], wanted) == delimiter


@pytest.mark.parametrize(
    ("cell", "decimal", "thousands", "value"),
    [
        ("1.234.567,89", ",", None, 1_234_567.89),
        ("1 234 567,89", ",", None, 1_234_567.89),
        ("1\u202f234,5", ",", None, 1234.5),
        ("€ 1.234,56", ",", None, 1234.56),
        ("1.234,56 EUR", ",", None, 1234.56),
        (",5", ",", None, 0.5),
        ("1,234,567.89", ".", None, 1_234_567.89),
        ("1'234'567.89", ".", None, 1_234_567.89),
        ("1234567", ".", None, 1_234_567.0),
        ("+12", ".", None, 12.0),
        ("1234,5", ",", "", 1234.5),
        ("0", ".", None, 0.0),
    ],
)
def test_numbers(cell: str, decimal: str, thousands: str | None, value: float) -> None:
    mapping = nl_mapping(decimal_separator=decimal, thousands_separator=thousands)
    data = (NL_HEADER + f'NL-1;03-01-2023;China;5A001j;x;Politie;"{cell}";Verleend\n').encode()
    (record,) = list(parse_csv(data, mapping, "nl.csv"))
    assert isinstance(record, LicenceRecord) and record.value == pytest.approx(value)


@pytest.mark.parametrize("cell", ["1.234", "1,234.5", "12.34", "1 23", "€", "EUR 12 USD", "(100)", "1e5"])
def test_numbers_that_are_ambiguous_or_wrong_are_rejected(cell: str) -> None:
    mapping = nl_mapping(thousands_separator="")
    data = (NL_HEADER + f'NL-1;03-01-2023;China;5A001j;x;Politie;"{cell}";Verleend\n').encode()
    (result,) = list(parse_csv(data, mapping, "nl.csv"))
    assert isinstance(result, Rejected) and result.reason == "invalid_value"


def test_currency_written_with_the_value_or_in_its_column() -> None:
    data = (NL_HEADER + GOOD.replace("100,00", "£ 100") + GOOD.replace("100,00", "100 USD")).encode()
    assert [r.currency for r in records(list(parse_csv(data, nl_mapping(), "nl.csv")))] == ["GBP", "USD"]
