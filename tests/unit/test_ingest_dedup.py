"""Duplicate detection on syndicated wire stories: exact fingerprints, MinHash sketches and the LSH index.

The stories are invented (companies, people, deals) but written and edited the way agencies and outlets do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.ingest.core.dedup import (
    NearDuplicateIndex,
    Sketch,
    Sketcher,
    band_params,
    normalise_text,
    text_fingerprint,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2024, 6, 4, 9, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Story:
    """One outlet's copy of an article."""

    name: str
    title: str
    body: str


# --- English: a Reuters story and two outlets' copies ------------------------------------------------------

_EN_LEDE = (
    "European Commission officials are examining whether a Danish software company broke EU export rules "
    "when it sold phone-hacking tools to police in Bahrain, according to documents seen by Reuters and three "
    "people familiar with the matter."
)
_EN_SYSTEM = (
    "The company, Nordvik Intelligence ApS, supplied a system called Harbinger that can silently extract "
    "messages, contacts and location history from smartphones, the documents show."
)
_EN_CONTRACT = (
    "The contract, worth about 4.2 million euros, was signed in March 2023 and renewed for two years in "
    "January."
)
_EN_RULES = (
    "Under the EU dual-use regulation, which was tightened in 2021, exporters of cyber-surveillance items "
    "must obtain a licence when they are aware that the goods may be used for internal repression or serious "
    "violations of human rights. Danish authorities said they had not received a licence application for the "
    "deal."
)
_EN_STATEMENT = (
    '"We comply with all applicable laws in the jurisdictions in which we operate," Nordvik said in an '
    "emailed statement, adding that its products are sold only to vetted law enforcement agencies to fight "
    "serious crime and terrorism."
)
_EN_AMNESTY = (
    "Human rights groups have documented the use of commercial spyware against activists and journalists in "
    "Bahrain since at least 2011. Amnesty International said on Tuesday that two Bahraini dissidents living "
    "in London had received text messages last year with links that matched servers used by Harbinger."
)
_EN_COMMISSION = (
    "A Commission spokesperson declined to comment on individual cases but said member states were "
    "responsible for enforcing export controls, and that the Commission would publish its annual report on "
    "dual-use exports in September."
)
_EN_AUTHORITY = (
    "The Danish Business Authority said it was reviewing the information and could not comment further. If "
    "the company is found to have broken the rules it could face fines and a ban on future exports."
)

EN_REUTERS = Story(
    "en/reuters",
    "EU examines Danish firm's sale of phone-hacking tool to Bahrain police",
    "\n\n".join(
        [
            f"COPENHAGEN/BRUSSELS, June 4 (Reuters) - {_EN_LEDE}",
            _EN_SYSTEM,
            _EN_CONTRACT,
            _EN_RULES,
            _EN_STATEMENT,
            _EN_AMNESTY,
            _EN_COMMISSION,
            _EN_AUTHORITY,
            "Reporting by Mette Lindqvist in Copenhagen and Pieter Claes in Brussels; "
            "Editing by Alison Hardy",
        ]
    ),
)
# A news site: new headline, dateline in its house style, the contract sentence cut, the Amnesty paragraph
# shortened, a "Read more" footer.
EN_SITE = Story(
    "en/site",
    "Danish spyware maker under scrutiny over Bahrain police deal",
    "\n\n".join(
        [
            f"BRUSSELS — {_EN_LEDE}",
            _EN_SYSTEM,
            _EN_RULES,
            _EN_STATEMENT,
            "Human rights groups have documented the use of commercial spyware against activists and "
            "journalists in Bahrain since at least 2011.",
            _EN_COMMISSION,
            _EN_AUTHORITY,
            "Read more: EU tightens rules on cyber-surveillance exports | Who buys European spyware?",
            "© Thomson Reuters 2024",
        ]
    ),
)
# A newspaper: own headline, one sentence of background added, the Reuters byline replaced by its own.
EN_PAPER = Story(
    "en/paper",
    "Brussels looks into Nordvik export of 'Harbinger' to Bahrain",
    "\n\n".join(
        [
            f"(Reuters) - {_EN_LEDE}",
            _EN_SYSTEM + " Nordvik, founded in Aarhus in 2009, employs about 120 people and sells to "
            "police forces in more than 20 countries.",
            _EN_CONTRACT,
            _EN_RULES,
            _EN_STATEMENT,
            _EN_AMNESTY,
            _EN_COMMISSION,
            _EN_AUTHORITY,
            "This article was amended on 5 June to correct the year Nordvik was founded.",
        ]
    ),
)

# --- Dutch: an ANP story and a regional paper's copy ------------------------------------------------------

_NL_PARAGRAPHS = [
    "Een bedrijf uit Eindhoven heeft camera's met gezichtsherkenning geleverd aan de politie in de Chinese "
    "provincie Xinjiang, terwijl het kabinet bedrijven juist oproept zulke leveringen te voorkomen. Dat "
    "blijkt uit douanegegevens en interne documenten die het ANP heeft ingezien.",
    "Het gaat om ruim vierhonderd camera's van het type OptiScan 7 van Veldhoven Vision BV. Volgens de "
    "documenten werden ze in 2022 via een tussenhandelaar in Hongkong verscheept naar een "
    "politiebureau in Ürümqi.",
    "De Verenigde Naties en mensenrechtenorganisaties beschuldigen China van grootschalige onderdrukking van "
    "Oeigoeren en andere moslimminderheden in Xinjiang. Gezichtsherkenning speelt daarbij een belangrijke "
    "rol: camera's bij controleposten en moskeeën registreren wie waar komt.",
    "Voor camera's met gezichtsherkenning is geen exportvergunning nodig, maar sinds de herziening van de "
    "Europese dual-useverordening in 2021 moeten bedrijven zelf nagaan of hun producten kunnen bijdragen aan "
    "ernstige mensenrechtenschendingen. Minister Van Dijk van Buitenlandse Handel noemt de levering "
    "„zeer zorgelijk” en laat uitzoeken of de regels zijn overtreden.",
    "Veldhoven Vision laat in een reactie weten dat het bedrijf „geen zicht had op de uiteindelijke "
    "gebruiker” en de samenwerking met de Hongkongse handelaar heeft beëindigd. Amnesty International wil "
    "dat het kabinet de export van gezichtsherkenning naar China volledig verbiedt.",
]
NL_ANP = Story(
    "nl/anp",
    "Eindhovens bedrijf leverde gezichtsherkenning aan politie in Xinjiang",
    "(ANP) - " + "\n\n".join(_NL_PARAGRAPHS),
)
NL_REGIONAL = Story(
    "nl/regional",
    "Camera's uit Eindhoven duiken op bij Chinese politie",
    "\n\n".join(
        [
            "EINDHOVEN - " + _NL_PARAGRAPHS[0],
            _NL_PARAGRAPHS[1],
            # The regional paper cut the background sentence on the cameras at checkpoints.
            "De Verenigde Naties en mensenrechtenorganisaties beschuldigen China van grootschalige "
            "onderdrukking van Oeigoeren en andere moslimminderheden in Xinjiang.",
            _NL_PARAGRAPHS[3],
            _NL_PARAGRAPHS[4],
            "Lees ook: Kabinet wil strengere regels voor export van spionagesoftware",
            "Lees ook: Brainport-bedrijven kijken kritischer naar klanten in China",
        ]
    ),
)

# --- French: an AFP story and a daily's copy --------------------------------------------------------------

_FR_PARAGRAPHS = [
    "Le parquet de Paris a ouvert une enquête visant une société française soupçonnée d'avoir vendu un "
    "système d'interception des communications aux services de sécurité égyptiens, a-t-on appris mercredi "
    "de source judiciaire.",
    "L'entreprise, Sentinelle Réseaux SAS, basée à Montpellier, aurait livré en 2021 un outil capable "
    "d'analyser en temps réel le trafic internet d'un opérateur national, selon une plainte déposée par "
    "la Fédération internationale pour les droits humains (FIDH) et la Ligue des droits de l'Homme.",
    "Les deux organisations estiment que ce matériel a servi à traquer des opposants, des journalistes et "
    "des militants LGBT, dont plusieurs ont été arrêtés après avoir été identifiés grâce à leurs échanges "
    "en ligne.",
    "Depuis la réforme du règlement européen sur les biens à double usage, entrée en vigueur en septembre "
    "2021, l'exportation de tels outils de cybersurveillance est soumise à autorisation lorsqu'ils risquent "
    "d'être utilisés à des fins de répression interne.",
    "Contactée par l'AFP, Sentinelle Réseaux n'a pas souhaité faire de commentaire. Le ministère de "
    "l'Économie, qui délivre les licences d'exportation, a indiqué ne pas pouvoir s'exprimer sur une "
    "procédure judiciaire en cours.",
]
FR_AFP = Story(
    "fr/afp",
    "Une société française visée par une enquête pour la vente d'un outil de surveillance à l'Égypte",
    "PARIS, 5 juin 2024 (AFP) - " + "\n\n".join(_FR_PARAGRAPHS) + "\n\nkb/abl/ial",
)
FR_DAILY = Story(
    "fr/daily",
    "Surveillance : enquête sur la vente d'un système d'écoute au Caire",
    "\n\n".join(
        [
            _FR_PARAGRAPHS[0],
            _FR_PARAGRAPHS[1],
            # The daily dropped the paragraph on the arrested activists and added one line of context.
            _FR_PARAGRAPHS[3] + " En 2022, la France a accordé plus de 120 licences de ce type.",
            _FR_PARAGRAPHS[4],
            "Lire aussi : Cybersurveillance, le grand marché des outils d'interception",
            "(Avec AFP)",
            "© AFP",
        ]
    ),
)

# --- German: a dpa story and a news portal's copy ---------------------------------------------------------

_DE_PARAGRAPHS = [
    "Die Bundesregierung hat die Ausfuhr von IMSI-Catchern eines Münchner Herstellers nach Belarus "
    "nachträglich untersucht. Wie das Bundesamt für Wirtschaft und Ausfuhrkontrolle (BAFA) am Dienstag "
    "mitteilte, wurden bei der Firma Isarfunk GmbH Unterlagen zu Lieferungen aus den Jahren 2019 und 2020 "
    "sichergestellt.",
    "Mit IMSI-Catchern lassen sich Mobiltelefone in der Umgebung orten und teilweise Gespräche mithören. "
    "Menschenrechtler werfen den belarussischen Behörden vor, solche Geräte bei den Protesten nach der "
    "Präsidentenwahl im August 2020 gegen Demonstranten eingesetzt zu haben.",
    "Nach Angaben des BAFA lag für die Geräte keine Ausfuhrgenehmigung vor. Das Unternehmen soll sie als "
    "Messtechnik für Mobilfunknetze deklariert und über einen Zwischenhändler in Litauen versandt haben. "
    "Der Staatsanwaltschaft München I liegt inzwischen eine Anzeige vor.",
    "Isarfunk wies die Vorwürfe zurück. Man habe sich stets an das Außenwirtschaftsrecht gehalten und "
    "arbeite mit den Behörden zusammen, sagte ein Sprecher der Deutschen Presse-Agentur.",
]
DE_DPA = Story(
    "de/dpa",
    "Behörden prüfen Export von IMSI-Catchern nach Belarus",
    "München/Eschborn (dpa) - " + "\n\n".join(_DE_PARAGRAPHS),
)
DE_PORTAL = Story(
    "de/portal",
    "Überwachungstechnik für Lukaschenko? Münchner Firma im Visier",
    "\n\n".join(
        [
            "Die Bundesregierung hat die Ausfuhr von IMSI-Catchern eines Münchner Herstellers nach Belarus "
            "nachträglich untersucht. Wie das Bundesamt für Wirtschaft und Ausfuhrkontrolle (BAFA) am "
            "Dienstag mitteilte, wurden bei der Firma Isarfunk GmbH Unterlagen sichergestellt.",
            _DE_PARAGRAPHS[1],
            _DE_PARAGRAPHS[2],
            _DE_PARAGRAPHS[3],
            "Mehr zum Thema: Wie deutsche Spähsoftware in Diktaturen landet",
            "© dpa-infocom, dpa:240604-99-123456/3",
        ]
    ),
)

# --- Negatives ----------------------------------------------------------------------------------------------

# Two different English stories on the same topic and with the same vocabulary: facial recognition, export,
# China, EU rules. Neither is a copy of the other.
EN_CAMERAS_CHINA = Story(
    "en/cameras-china",
    "European facial recognition cameras found in Chinese police stations",
    "\n\n".join(
        [
            "Facial recognition cameras made by a European company have been installed in police stations in "
            "China, researchers said on Monday, raising new questions about how the EU controls the export "
            "of surveillance technology.",
            "The cameras, sold by Lumora Optics of Finland, were identified in procurement records from "
            "Guangdong province and in photographs published by local police. Lumora said it sold the "
            "equipment to a distributor in Singapore and had no knowledge that it would be exported to "
            "China.",
            "Facial recognition systems are not listed in the EU dual-use regulation, which means they can "
            "be exported without a licence unless the exporter is aware of a risk of human rights abuses. "
            "Rights groups have long called for the technology to be added to the control lists.",
            "China has built one of the world's largest networks of facial recognition cameras, and the "
            "technology has been used to track Uyghurs and other minorities. The researchers said the Lumora "
            "cameras were connected to a platform that flags people on a police watchlist.",
            "The Finnish foreign ministry said it would ask the company for an explanation.",
        ]
    ),
)
EN_PARLIAMENT_BAN = Story(
    "en/parliament-ban",
    "EU lawmakers demand ban on facial recognition exports to China",
    "\n\n".join(
        [
            "Members of the European Parliament on Thursday called on the Commission to ban the export of "
            "facial recognition technology to China, saying existing rules had failed to stop European "
            "equipment from being used for mass surveillance.",
            "In a resolution adopted by 512 votes to 87, lawmakers asked for facial recognition software and "
            "cameras to be added to the EU list of controlled dual-use items, which would require exporters "
            "to obtain a licence for every sale to China.",
            "The Commission said it would study the proposal but warned that a unilateral export ban could "
            "push buyers towards Chinese suppliers, which already dominate the global market for facial "
            "recognition systems.",
            "Industry groups said the export rules were already strict and that companies carried out due "
            "diligence on their customers. Human rights organisations welcomed the vote and urged member "
            "states to back it in the Council.",
            "The resolution is not binding. A review of the dual-use regulation is due next year.",
        ]
    ),
)
# The agency's follow-up two days later: new news on top, background paragraphs reused word for word, as wire
# follow-ups do. A related story, not a copy: it must stay its own original.
EN_FOLLOW_UP = Story(
    "en/follow-up",
    "Danish spyware firm Nordvik suspends Bahrain contract amid EU probe",
    "\n\n".join(
        [
            "COPENHAGEN, June 6 (Reuters) - Nordvik Intelligence ApS has suspended deliveries and support "
            "for its Harbinger system to police in Bahrain while Danish authorities examine whether the sale "
            "required an export licence, the company said on Thursday.",
            '"We have decided to pause all activities under the contract until the review is complete," '
            "chief executive Lars Bjerre told Reuters in a telephone interview, adding that the company had "
            "hired an outside law firm to audit its export procedures.",
            "Reuters reported on Tuesday that the European Commission was looking into the deal.",
            _EN_SYSTEM,
            _EN_RULES,
            _EN_AMNESTY,
            "Shares in Nordvik's Swedish parent, Kestrel Group, fell 6% in Stockholm on Thursday.",
            "Reporting by Mette Lindqvist; Editing by Alison Hardy",
        ]
    ),
)
# The Reuters story as EFE would run it in Spanish: the same facts, a different language.
ES_TRANSLATION = Story(
    "es/efe",
    "Bruselas examina la venta de una herramienta de espionaje danesa a la policía de Baréin",
    "\n\n".join(
        [
            "Bruselas, 4 jun (EFE).- Funcionarios de la Comisión Europea examinan si una empresa danesa de "
            "software vulneró las normas de exportación de la UE al vender herramientas para piratear "
            "teléfonos a la policía de Baréin, según documentos a los que tuvo acceso Reuters y tres "
            "personas conocedoras del asunto.",
            "La empresa, Nordvik Intelligence ApS, suministró un sistema llamado Harbinger capaz de extraer "
            "en silencio mensajes, contactos e historial de ubicaciones de los teléfonos inteligentes, según "
            "los documentos.",
            "El contrato, por valor de unos 4,2 millones de euros, se firmó en marzo de 2023 y se renovó por "
            "dos años en enero.",
            "Según el reglamento europeo de doble uso, endurecido en 2021, los exportadores de artículos de "
            "cibervigilancia deben obtener una licencia cuando sepan que los bienes pueden utilizarse para "
            "la represión interna o violaciones graves de los derechos humanos. Las autoridades danesas "
            "dijeron que no habían recibido ninguna solicitud de licencia para la operación.",
            '"Cumplimos todas las leyes aplicables en las jurisdicciones en las que operamos", afirmó '
            "Nordvik en un comunicado, en el que añadió que sus productos solo se venden a cuerpos "
            "policiales verificados para combatir delitos graves y el terrorismo.",
            "Las organizaciones de derechos humanos han documentado el uso de programas espía comerciales "
            "contra activistas y periodistas en Baréin desde al menos 2011.",
        ]
    ),
)

NEAR_DUPLICATES = [
    (EN_REUTERS, EN_SITE),
    (EN_REUTERS, EN_PAPER),
    (EN_SITE, EN_PAPER),
    (NL_ANP, NL_REGIONAL),
    (FR_AFP, FR_DAILY),
    (DE_DPA, DE_PORTAL),
]
DISTINCT = [
    (EN_CAMERAS_CHINA, EN_PARLIAMENT_BAN),
    (EN_REUTERS, EN_CAMERAS_CHINA),
    (EN_REUTERS, ES_TRANSLATION),
    (EN_REUTERS, EN_FOLLOW_UP),
    (EN_SITE, EN_FOLLOW_UP),
    (NL_ANP, EN_CAMERAS_CHINA),
    (FR_AFP, EN_REUTERS),
    (DE_DPA, EN_REUTERS),
]
ALL_STORIES = [
    EN_REUTERS,
    EN_SITE,
    EN_PAPER,
    NL_ANP,
    NL_REGIONAL,
    FR_AFP,
    FR_DAILY,
    DE_DPA,
    DE_PORTAL,
    EN_CAMERAS_CHINA,
    EN_PARLIAMENT_BAN,
    EN_FOLLOW_UP,
    ES_TRANSLATION,
]

SKETCHER = Sketcher()
THRESHOLD = NearDuplicateIndex().threshold


def _sketch(story: Story) -> Sketch:
    sketch = SKETCHER.sketch(story.title, story.body)
    assert sketch is not None, f"{story.name} is long enough to sketch"
    return sketch


def _jaccard(a: Story, b: Story) -> float:
    """The exact Jaccard similarity of the shingle sets, which the sketches estimate."""
    sa, sb = SKETCHER.shingles(a.body), SKETCHER.shingles(b.body)
    return len(sa & sb) / len(sa | sb)


# --- normalised text and exact fingerprints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "body", "normalised"),
    [
        ("Surveillance :", "l’Union européenne", "surveillance l union europeenne"),
        ("", "Die Straße  nach\tMÜNCHEN\n\n(dpa) -", "die strasse nach munchen dpa"),
        ("", "Ürümqi, Baréin, Ελλάδα, Москва", "urumqi barein ελλαδα москва"),
        ("", "4,2 millones de euros — 2023/24", "4 2 millones de euros 2023 24"),
        ("", "“Harbinger” ©\u00a0AFP; dual_use", "harbinger afp dual use"),
        ("", "ﬁnancial ½", "financial 1 2"),
        ("", "   ", ""),
    ],
)
def test_normalise_text(title: str, body: str, normalised: str) -> None:
    assert normalise_text(title, body) == normalised


def test_normalise_text_separates_title_and_body() -> None:
    assert normalise_text("Export ban", "China") == "export ban china"


def test_normalise_text_outside_the_basic_plane() -> None:
    # Decided afresh each time rather than remembered (see _CharTable): must give the same answer twice.
    text = "𝐒𝐩𝐲𝐰𝐚𝐫𝐞 🚨 sale to 𠀋 police"
    assert normalise_text("", text) == "spyware sale to 𠀋 police"
    assert normalise_text("", text) == "spyware sale to 𠀋 police"


_STRIP_ACCENTS = str.maketrans(dict(zip("éèêÉàâçôûùîïëÜüÖöÄä", "eeeEaacouuiieUuOoAa", strict=True)))


@pytest.mark.parametrize(
    ("name", "title", "body"),
    [
        ("upper case", EN_REUTERS.title.upper(), EN_REUTERS.body.upper()),
        ("whitespace", EN_REUTERS.title, "  " + EN_REUTERS.body.replace("\n\n", " \n \t").replace(" ", "  ")),
        ("straight quotes", EN_REUTERS.title.replace("'", "’"), EN_REUTERS.body.replace('"', "”")),
        ("no-break spaces", EN_REUTERS.title.replace(" ", "\u00a0"), EN_REUTERS.body),
    ],
)
def test_fingerprint_ignores_case_whitespace_and_punctuation_style(name: str, title: str, body: str) -> None:
    assert text_fingerprint(title, body) == text_fingerprint(EN_REUTERS.title, EN_REUTERS.body), name


@pytest.mark.parametrize("story", [FR_AFP, DE_DPA, NL_ANP], ids=lambda s: s.name)
def test_fingerprint_ignores_accents(story: Story) -> None:
    plain = text_fingerprint(story.title.translate(_STRIP_ACCENTS), story.body.translate(_STRIP_ACCENTS))
    assert plain is not None
    assert plain == text_fingerprint(story.title, story.body)


@pytest.mark.parametrize(
    ("name", "title", "body"),
    [
        ("one figure changed", EN_REUTERS.title, EN_REUTERS.body.replace("4.2 million", "4.3 million")),
        ("other headline", EN_SITE.title, EN_REUTERS.body),
        ("near copy", EN_PAPER.title, EN_PAPER.body),
    ],
)
def test_fingerprint_tells_different_texts_apart(name: str, title: str, body: str) -> None:
    assert text_fingerprint(title, body) != text_fingerprint(EN_REUTERS.title, EN_REUTERS.body), name


@pytest.mark.parametrize(
    ("title", "body", "expect_none"),
    [
        ("Nordvik suspends Bahrain contract", "", True),
        (
            "EU probe",
            "Read more: EU tightens rules on cyber-surveillance exports | Who buys European spyware?",
            True,
        ),
        ("", "x" * 199, True),
        ("", "x" * 200, False),
        (EN_REUTERS.title, EN_REUTERS.body, False),
    ],
)
def test_fingerprint_is_none_for_short_text(title: str, body: str, expect_none: bool) -> None:
    assert (text_fingerprint(title, body) is None) is expect_none


def test_fingerprint_min_chars_is_a_parameter() -> None:
    assert text_fingerprint("Export ban", "China", min_chars=10) is not None
    assert text_fingerprint("Export ban", "China", min_chars=100) is None


# --- sketches -----------------------------------------------------------------------------------------------


def _words(n: int) -> str:
    return " ".join(normalise_text("", EN_REUTERS.body).split()[:n])


@pytest.mark.parametrize(
    ("name", "body", "expect_none"),
    [
        ("empty", "", True),
        ("teaser", "Danish authorities are examining a spyware sale to Bahrain. Read more:", True),
        ("39 words", _words(39), True),
        ("40 words", _words(40), False),
        ("wire story", EN_REUTERS.body, False),
    ],
)
def test_sketch_needs_enough_words(name: str, body: str, expect_none: bool) -> None:
    assert (SKETCHER.sketch("A headline does not count towards the minimum", body) is None) is expect_none, (
        name
    )


def test_sketch_ignores_the_headline() -> None:
    # Syndicating outlets rewrite headlines; measured on the pairs below, leaving the title in lowers every
    # near-duplicate similarity by about 0.05 and changes no negative.
    assert _sketch(EN_REUTERS) == SKETCHER.sketch(EN_SITE.title, EN_REUTERS.body)
    assert _sketch(EN_REUTERS) != SKETCHER.sketch(EN_REUTERS.title, EN_SITE.body)


def test_sketch_bytes_round_trip() -> None:
    sketch = _sketch(NL_ANP)
    data = sketch.to_bytes()
    assert len(data) == 12 + 8 * 128
    restored = Sketch.from_bytes(data)
    assert restored == sketch
    assert restored.similarity(sketch) == 1.0
    assert restored.num_perm == 128


@pytest.mark.parametrize(
    ("name", "mangle"),
    [
        ("truncated values", lambda b: b[:-8]),
        ("truncated header", lambda b: b[:10]),
        ("other magic", lambda b: b"XXXX" + b[4:]),
        ("future version", lambda b: b[:4] + bytes([3]) + b[5:]),
        ("version 1 (datasketch's SHA-1 hashing)", lambda b: b[:4] + bytes([1]) + b[5:]),
        ("empty", lambda b: b""),
    ],
)
def test_sketch_from_bytes_rejects_other_data(name: str, mangle: Callable[[bytes], bytes]) -> None:
    with pytest.raises(ValueError, match="sketch"):
        Sketch.from_bytes(mangle(_sketch(NL_ANP).to_bytes()))


@pytest.mark.parametrize(
    "other",
    [Sketcher(seed=2), Sketcher(shingle_words=4), Sketcher(num_perm=64)],
    ids=["seed", "shingle_words", "num_perm"],
)
def test_sketches_made_differently_are_not_compared(other: Sketcher) -> None:
    sketch = other.sketch(NL_ANP.title, NL_ANP.body)
    assert sketch is not None
    with pytest.raises(ValueError, match="not comparable"):
        _sketch(NL_ANP).similarity(sketch)


def test_sketch_values_are_pinned() -> None:
    # Stored sketches outlive the process and the release: a change of the hashing (services/ingest/core/
    # shingles.py, or numpy's integer arithmetic) must fail here rather than make every stored sketch silently
    # incomparable with new ones. Changing this digest means a new SKETCH_VERSION and a migration.
    data = _sketch(EN_REUTERS).to_bytes()
    # Header: magic, version 2, 3-word shingles, 128 permutations, seed 1.
    assert data[:12] == b"EWSK\x02\x03\x80\x00\x01\x00\x00\x00"
    assert hashlib.sha256(data).hexdigest() == (
        "fa24acf8d19efdb37e539a5490c8c41e8e974e5c2a4a8b755bb346f89c32a51c"
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"num_perm": 1}, {"shingle_words": 0}, {"min_words": 2}, {"seed": -1}, {"num_perm": 70_000}],
    ids=str,
)
def test_sketcher_rejects_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Sketcher(**kwargs)


def test_sketching_a_4kb_article_takes_milliseconds() -> None:
    body = "\n\n".join(s.body for s in (EN_REUTERS, EN_CAMERAS_CHINA, NL_ANP, FR_AFP, DE_DPA))
    body = body.encode("utf-8")[:4096].decode("utf-8", errors="ignore")
    sketcher = Sketcher()
    assert sketcher.sketch("", body) is not None
    rounds = 50
    start = time.perf_counter()
    for _ in range(rounds):
        sketcher.sketch("", body)
    elapsed = (time.perf_counter() - start) / rounds
    print(f"\nsketching a {len(body.encode())}-byte article: {elapsed * 1000:.2f} ms")


# --- near duplicates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("original", "copy"), NEAR_DUPLICATES, ids=lambda s: s.name)
def test_syndicated_copies_are_near_duplicates(original: Story, copy: Story) -> None:
    similarity = _sketch(original).similarity(_sketch(copy))
    print(
        f"\n{original.name} ~ {copy.name}: estimated {similarity:.3f}, exact {_jaccard(original, copy):.3f}"
    )
    assert similarity >= THRESHOLD
    index = NearDuplicateIndex()
    index.add(original.name, _sketch(original), T0)
    assert index.find(_sketch(copy), T0 + dt.timedelta(hours=3)) == original.name


@pytest.mark.parametrize(("a", "b"), DISTINCT, ids=lambda s: s.name)
def test_different_stories_and_translations_are_not_near_duplicates(a: Story, b: Story) -> None:
    similarity = _sketch(a).similarity(_sketch(b))
    print(f"\n{a.name} ~ {b.name}: estimated {similarity:.3f}, exact {_jaccard(a, b):.3f}")
    assert similarity < THRESHOLD
    index = NearDuplicateIndex()
    index.add(a.name, _sketch(a), T0)
    assert index.find(_sketch(b), T0 + dt.timedelta(hours=1)) is None


def test_threshold_has_margin_on_both_sides() -> None:
    """The default threshold sits between the lowest copy and the highest non-copy, with room for the
    estimate's noise (standard deviation about 0.04 at 128 permutations) on both sides."""
    lowest_copy = min(_sketch(a).similarity(_sketch(b)) for a, b in NEAR_DUPLICATES)
    highest_other = max(_sketch(a).similarity(_sketch(b)) for a, b in DISTINCT)
    print(f"\nlowest copy {lowest_copy:.3f}, highest non-copy {highest_other:.3f}, threshold {THRESHOLD}")
    assert highest_other + 0.15 < THRESHOLD < lowest_copy - 0.05


def test_ingesting_a_day_of_news_groups_each_story_under_its_first_copy() -> None:
    arrivals = [
        EN_REUTERS,
        NL_ANP,
        EN_CAMERAS_CHINA,
        EN_SITE,
        FR_AFP,
        ES_TRANSLATION,
        NL_REGIONAL,
        DE_DPA,
        EN_PAPER,
        EN_PARLIAMENT_BAN,
        FR_DAILY,
        DE_PORTAL,
        EN_FOLLOW_UP,
    ]
    index = NearDuplicateIndex()
    duplicate_of: dict[str, str | None] = {}
    for minutes, story in enumerate(arrivals):
        published_at = T0 + dt.timedelta(minutes=40 * minutes)
        sketch = _sketch(story)
        original = index.find(sketch, published_at)
        duplicate_of[story.name] = original
        if original is None:
            index.add(story.name, sketch, published_at)
    assert duplicate_of == {
        "en/reuters": None,
        "nl/anp": None,
        "en/cameras-china": None,
        "en/site": "en/reuters",
        "fr/afp": None,
        "es/efe": None,
        "nl/regional": "nl/anp",
        "de/dpa": None,
        "en/paper": "en/reuters",
        "en/parliament-ban": None,
        "fr/daily": "fr/afp",
        "de/portal": "de/dpa",
        "en/follow-up": None,
    }
    assert len(index) == 8


# --- the index: window, pruning, choice of original, LSH recall --------------------------------------------


@pytest.mark.parametrize(
    ("offset", "found"),
    [
        (dt.timedelta(hours=72), True),
        (dt.timedelta(hours=72, seconds=1), False),
        (-dt.timedelta(hours=72), True),
        (-dt.timedelta(hours=72, seconds=1), False),
        (dt.timedelta(days=30), False),
    ],
    ids=str,
)
def test_find_only_within_the_window_either_side(offset: dt.timedelta, found: bool) -> None:
    index = NearDuplicateIndex(window=dt.timedelta(hours=72))
    index.add("en/reuters", _sketch(EN_REUTERS), T0)
    # A negative offset is a copy published before the indexed article: feeds deliver out of order.
    assert (index.find(_sketch(EN_PAPER), T0 + offset) == "en/reuters") is found


def test_prune_removes_originals_older_than_the_window() -> None:
    index = NearDuplicateIndex(window=dt.timedelta(hours=72))
    index.add("en/reuters", _sketch(EN_REUTERS), T0)
    index.add("nl/anp", _sketch(NL_ANP), T0 + dt.timedelta(hours=10))
    index.add("fr/afp", _sketch(FR_AFP), T0 + dt.timedelta(hours=20))
    assert len(index) == 3
    now = T0 + dt.timedelta(hours=85)
    assert index.prune(now) == 2
    assert len(index) == 1
    assert "en/reuters" not in index and "nl/anp" not in index and "fr/afp" in index
    # Gone from the LSH buckets too, not only from the bookkeeping: a copy inside its window finds nothing.
    assert index.find(_sketch(EN_PAPER), T0 + dt.timedelta(hours=70)) is None
    assert index.find(_sketch(FR_DAILY), now) == "fr/afp"
    assert index.prune(now) == 0
    assert index.prune(now + dt.timedelta(days=365)) == 1
    assert len(index) == 0


def test_a_full_index_forgets_the_earliest_published_first() -> None:
    index = NearDuplicateIndex(max_originals=2)
    assert index.add("nl/anp", _sketch(NL_ANP), T0 + dt.timedelta(hours=1)) == 0
    assert index.add("en/reuters", _sketch(EN_REUTERS), T0) == 0
    # Full: the earliest published (en/reuters, added last) goes, not the first added.
    assert index.add("fr/afp", _sketch(FR_AFP), T0 + dt.timedelta(hours=2)) == 1
    assert len(index) == 2 and "en/reuters" not in index and "nl/anp" in index and "fr/afp" in index
    assert index.find(_sketch(EN_PAPER), T0) is None, "gone from the LSH buckets too"
    assert index.find(_sketch(FR_DAILY), T0 + dt.timedelta(hours=2)) == "fr/afp"
    # An article older than everything kept is itself the one forgotten.
    assert index.add("de/dpa", _sketch(DE_DPA), T0 - dt.timedelta(hours=5)) == 1
    assert "de/dpa" not in index and len(index) == 2
    # Replaced and discarded entries leave stale expiry records: they neither count nor stop the eviction.
    index.add("nl/anp", _sketch(NL_ANP), T0 + dt.timedelta(hours=3))
    index.discard("fr/afp")
    index.add("en/reuters", _sketch(EN_REUTERS), T0 + dt.timedelta(hours=4))
    assert len(index) == 2
    assert index.add("de/dpa", _sketch(DE_DPA), T0 + dt.timedelta(hours=5)) == 1
    assert len(index) == 2 and "en/reuters" in index and "de/dpa" in index
    assert index.prune(T0 + dt.timedelta(hours=200)) == 2 and len(index) == 0
    with pytest.raises(ValueError, match="max_originals"):
        NearDuplicateIndex(max_originals=0)


def test_adding_an_id_again_replaces_it() -> None:
    index = NearDuplicateIndex()
    index.add("story", _sketch(EN_REUTERS), T0)
    index.add("story", _sketch(EN_REUTERS), T0)  # a redelivered message
    assert len(index) == 1
    index.add("story", _sketch(NL_ANP), T0 + dt.timedelta(hours=48))
    assert len(index) == 1
    assert index.find(_sketch(EN_PAPER), T0) is None
    assert index.find(_sketch(NL_REGIONAL), T0) == "story"
    # The replaced publication time no longer expires the entry; the new one does.
    assert index.prune(T0 + dt.timedelta(hours=100)) == 0
    assert index.prune(T0 + dt.timedelta(hours=121)) == 1
    assert len(index) == 0


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_find_returns_the_most_similar_then_the_earliest_original(order: tuple[int, ...]) -> None:
    # en/paper is closer to en/reuters (0.84) than to en/site (0.67); "reuters-early" and "reuters-late" are
    # the same text, so they tie and the earlier one wins, whatever order they were indexed in.
    entries = [
        ("site", _sketch(EN_SITE), T0 - dt.timedelta(hours=5)),
        ("reuters-late", _sketch(EN_REUTERS), T0),
        ("reuters-early", _sketch(EN_REUTERS), T0 - dt.timedelta(hours=1)),
    ]
    index = NearDuplicateIndex()
    for i in order:
        index.add(*entries[i])
    assert index.find(_sketch(EN_PAPER), T0 + dt.timedelta(hours=2)) == "reuters-early"
    assert index.find(_sketch(EN_SITE), T0 + dt.timedelta(hours=2)) == "site"


def test_find_needs_an_aware_time_and_matching_sketches() -> None:
    index = NearDuplicateIndex()
    with pytest.raises(ValueError, match="timezone"):
        index.find(_sketch(EN_REUTERS), dt.datetime(2024, 6, 4, 9, 30))
    small = Sketcher(num_perm=64).sketch(EN_REUTERS.title, EN_REUTERS.body)
    assert small is not None
    with pytest.raises(ValueError, match="permutations"):
        index.add("x", small, T0)


def test_band_params_favour_recall_at_the_threshold() -> None:
    bands, rows = band_params(0.5, 128)
    assert (bands, rows) == (42, 3)
    assert 1 - (1 - 0.5**rows) ** bands >= 0.99
    # One more row per band would miss too many pairs at the threshold.
    assert 1 - (1 - 0.5 ** (rows + 1)) ** (128 // (rows + 1)) < 0.99


def test_lsh_finds_pairs_at_the_threshold() -> None:
    """Pairs of articles whose true similarity is exactly the threshold, over 400 different vocabularies:
    every pair whose estimated similarity reaches the threshold must come out of the LSH lookup, save a few
    (expected ~0.4 %). datasketch's default banding for 0.5 (25 bands of 5 rows) finds 151 of these 217."""
    sketcher = Sketcher(shingle_words=1, min_words=1)
    index = NearDuplicateIndex(threshold=0.5)
    eligible = found = 0
    for trial in range(400):
        # 300 + 300 distinct words sharing 200: Jaccard 200 / 400 = 0.5.
        a = sketcher.sketch("", " ".join(f"t{trial}w{i}" for i in range(300)))
        b = sketcher.sketch("", " ".join(f"t{trial}w{i}" for i in range(100, 400)))
        assert a is not None and b is not None
        index.add(f"a{trial}", a, T0)
        if a.similarity(b) >= 0.5:
            eligible += 1
            found += index.find(b, T0) == f"a{trial}"
    print(f"\nLSH found {found} of {eligible} pairs at the threshold")
    assert eligible > 150
    assert found >= 0.98 * eligible
