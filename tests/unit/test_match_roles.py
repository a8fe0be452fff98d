"""The role of a country mention (services/match/core/roles.py, watchlists/roles.yaml): a country
named as the supplier's home, a person's nationality, an owner, a lender, a comparison or a banned
destination is not where the technology goes; "the Chinese telecom giant helped the authorities of
Uganda" gives Uganda, not China."""

from __future__ import annotations

import pytest

from services.match.core import watchlists
from services.match.core.engine import Matcher
from services.match.core.roles import RoleCues, tokens
from services.match.core.text import fold
from tests.unit.test_match_rules import news, only_alert


@pytest.fixture(scope="module")
def cues() -> RoleCues:
    return RoleCues(watchlists.load().roles)


def judge(cues: RoleCues, sentence: str, mention: str, form: str, language: str, trade: bool = True) -> str:
    start = sentence.index(mention)
    verdict = cues.judge(
        fold(sentence[:start]),
        fold(sentence[start + len(mention) :]),
        form=form,
        language=language,
        trade=trade,
        capitalised=mention[:1].isupper(),
    )
    return verdict.role


@pytest.mark.parametrize(
    ("language", "sentence", "mention", "form", "role"),
    [
        # the buyer or user
        ("en", "The firm sold spyware to Egypt.", "Egypt", "name", "destination"),
        ("en", "Huawei helped the authorities of Uganda.", "Uganda", "name", "destination"),
        ("en", "Egyptian police bought the system.", "Egyptian", "adjective", "destination"),
        ("en", "Egypt bought the system in 2016.", "Egypt", "name", "destination"),
        ("fr", "Le système a été vendu à la police égyptienne.", "égyptienne", "adjective", "destination"),
        ("de", "Die Software ging an die ägyptischen Behörden.", "ägyptischen", "adjective", "destination"),
        ("de", "Die Software wurde nach Ägypten verkauft.", "Ägypten", "name", "destination"),
        ("nl", "Naast Saoedi-Arabië kochten de Emiraten het pakket.", "Emiraten", "name", "destination"),
        ("es", "El programa se usó contra los uigures.", "uigures", "adjective", "destination"),
        ("en", "Clients include Egypt, Bahrain and Saudi Arabia.", "Egypt", "name", "destination"),
        # the supplier's home
        ("en", "The Chinese telecom giant Huawei won the contract.", "Chinese", "adjective", "origin"),
        ("en", "Chinese-made cameras watch the town centre.", "Chinese", "adjective", "origin"),
        ("en", "A Dubai-based intermediary arranged the deal.", "Dubai", "place", "origin"),
        ("fr", "L'entreprise chinoise Hikvision a fourni les caméras.", "chinoise", "adjective", "origin"),
        ("es", "La empresa china Dahua instaló las cámaras.", "china", "adjective", "origin"),
        ("de", "Die Kameras stammen aus China.", "China", "name", "origin"),
        ("nl", "De camera's zijn van Chinese makelij.", "Chinese", "adjective", "origin"),
        # a person's nationality
        ("en", "An Iran analyst said the deal was small.", "Iran", "name", "person"),
        ("en", "Her Emirati husband denied it.", "Emirati", "adjective", "person"),
        ("fr", "Un chercheur iranien a commenté le rapport.", "iranien", "adjective", "person"),
        ("de", "Ein iranischer Experte kommentierte den Bericht.", "iranischer", "adjective", "person"),
        # lender, owner, comparison, ban, venue
        ("en", "The project was financed by loans from China.", "China", "name", "lender"),
        ("en", "The firm is owned by the Chinese state.", "Chinese", "adjective", "owner"),
        ("en", "They fear a system like the one in China.", "China", "name", "comparison"),
        (
            "de",
            "Kritiker warnen vor einem Sozialkreditsystem nach chinesischem Vorbild.",
            "chinesischem",
            "adjective",
            "comparison",
        ),
        ("en", "The EU extended its arms embargo on Russia.", "Russia", "name", "banned"),
        ("en", "The spyware was shown at a trade fair in Dubai.", "Dubai", "place", "venue"),
        ("en", "Her reporting covered Chinese influence in Hungary.", "Chinese", "adjective", "topic"),
        # nothing around it
        ("en", "Spyware was found in Bahrain.", "Bahrain", "name", "neutral"),
        # "de" is an article in Dutch and "of" in Spanish and French
        ("es", "Vendió las cámaras a la policía de Venezuela.", "Venezuela", "name", "destination"),
        # a conjunction after a bare preposition: not the country's
        (
            "es",
            "Vetó la venta de equipos para que Teherán aclare su programa.",
            "Teherán",
            "place",
            "neutral",
        ),
        # a French or Spanish name takes no noun after it
        ("es", "Prohíben vender a Irán equipos para controlar internet.", "Irán", "name", "destination"),
        # the client of a company is not the company's home
        ("nl", "De regering is klant van het Israëlische bedrijf.", "Israëlische", "adjective", "origin"),
        ("en", "The spyware was run from Saudi Arabia.", "Saudi Arabia", "name", "destination"),
        # an English name before a noun phrase; a semicolon ends it
        ("en", "The Taliban seized US biometric kits.", "US", "name", "origin"),
        (
            "en",
            "He fled via Hong Kong; after Serbian police asked, he was arrested.",
            "Hong Kong",
            "name",
            "neutral",
        ),
        # the last part of a Dutch or German compound is its head
        ("nl", "De Rwandese regeringscriticus werd gehackt.", "Rwandese", "adjective", "destination"),
        ("nl", "China-kenners waarschuwen voor de camera's.", "China", "name", "person"),
        (
            "de",
            "Die ägyptischen Empfänger bestätigten die Lieferung.",
            "ägyptischen",
            "adjective",
            "destination",
        ),
        ("es", "El programador ruso fue detenido en Barcelona.", "ruso", "adjective", "person"),
    ],
)
def test_roles(cues: RoleCues, language: str, sentence: str, mention: str, form: str, role: str) -> None:
    assert judge(cues, sentence, mention, form, language) == role


def test_a_bare_preposition_needs_a_word_of_trade(cues: RoleCues) -> None:
    sentence = "The award went to Egypt on Monday."
    assert judge(cues, sentence, "Egypt", "name", "en", trade=False) == "neutral"
    assert judge(cues, "The kit was sold to Egypt.", "Egypt", "name", "en", trade=True) == "destination"


def test_tokens_split_elisions_and_keep_commas() -> None:
    assert tokens(fold("l’entreprise, d’État")) == ["l", "entreprise", ",", "d", "etat"]
    assert tokens("china's police") == ["china", "'s", "police"]


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en", "The government refused an export licence for the interception kit to Egypt."),
        ("de", "Die Bundesregierung hat die Ausfuhrgenehmigung für Ägypten abgelehnt."),
        ("fr", "Le gouvernement a refusé la licence d'exportation vers l'Égypte."),
    ],
)
def test_banned_sentences(cues: RoleCues, language: str, sentence: str) -> None:
    assert cues.banned_sentence(sentence, language) is not None


def test_a_ban_far_from_its_verb(cues: RoleCues) -> None:
    sentence = (
        "Le paquet interdit notamment de vendre, de fournir ou d'exporter vers la Biélorussie des logiciels."
    )
    assert cues.banned_sentence(sentence, "fr") is not None


def test_unknown_users_need_the_user_to_be_unknown(cues: RoleCues) -> None:
    assert cues.unattributed_text("Wie achter de aanval zit, is onduidelijk.", "nl") is not None
    # a source or a company not named says nothing about who used the technology
    assert cues.unattributed_text("The engineer, who was not identified, spoke to the BBC.", "en") is None
    assert cues.unattributed_text("The operator behind the attacks was not identified.", "en") is not None


def test_a_concession_keeps_the_deal(cues: RoleCues) -> None:
    assert cues.banned_sentence("Despite the embargo, the kit was sold to Myanmar.", "en") is None


@pytest.mark.parametrize(
    ("body", "destinations"),
    [
        # the reverse: a supplier from one risky country helping the authorities of another
        (
            "The Chinese telecom giant Huawei helped the authorities of Uganda intercept opposition calls.",
            ["UG"],
        ),
        ("Russian-built interception kit was sold to the Egyptian interior ministry.", ["EG"]),
        # an intermediary's home is not the destination when the buyer is named
        ("Deep packet inspection gear reached Egypt through a Dubai-based intermediary.", ["EG"]),
    ],
)
def test_reverse(matcher: Matcher, body: str, destinations: list[str]) -> None:
    alert = only_alert(matcher, news(body))
    assert alert is not None and alert.destinations == destinations


@pytest.mark.parametrize(
    "body",
    [
        "Chinese-made surveillance cameras were installed in a French town centre.",
        "Facial recognition cameras from the Chinese firm Hikvision watch a London station.",
        "An Iran analyst said facial recognition is spreading in Europe.",
        "The project was financed by credit from Beijing; the city of Lyon bought the video surveillance.",
        "Critics fear a social credit system like the one in China.",
        "The EU banned exports of interception equipment to Russia.",
        "Spyware makers met buyers at a trade fair in Dubai.",
    ],
)
def test_a_nationality_is_not_a_destination(matcher: Matcher, body: str) -> None:
    assert only_alert(matcher, news(body)) is None


def test_vendor_background_is_not_a_destination(matcher: Matcher) -> None:
    """Cameras bought in Europe: the maker's alleged links to abuses at home are background."""
    body = (
        "Kent councils bought CCTV cameras made by Hikvision. "
        "Hikvision has been linked to the surveillance of Uyghurs in Xinjiang."
    )
    assert only_alert(matcher, news(body)) is None
    sold = "Hikvision sold facial recognition cameras to police in Xinjiang."
    alert = only_alert(matcher, news(sold))
    assert alert is not None and alert.destinations == ["CN"]
