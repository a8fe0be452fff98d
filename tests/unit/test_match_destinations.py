"""Destinations: adjectives, peoples and places in the five languages, and the traps they bring
(services/match/watchlists/destinations.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.match.core import watchlists
from services.match.core.engine import Matcher
from tests.unit.test_match_rules import news, only_alert


@pytest.fixture(scope="module")
def optional_matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    """The bundled lists with the optional tier switched on by an operator folder."""
    folder: Path = tmp_path_factory.mktemp("operator")
    (folder / "destinations.yaml").write_text("alert_tiers: [core, further, optional]\n", encoding="utf-8")
    return Matcher.load([folder])


# (language, body, the one destination expected)
POSITIVES = [
    ("en", "Jordanian police bought spyware.", "JO"),
    ("en", "Spyware was sold to Qatari state security.", "QA"),
    ("en", "Facial recognition cameras were installed in Istanbul.", "TR"),
    ("en", "Facial recognition cameras were installed in İzmir.", "TR"),
    ("en", "Spyware was used against Hong Kongers.", "HK"),
    ("en", "Facial recognition was deployed in Kowloon.", "HK"),
    ("en", "Spyware was sold to the Thai army.", "TH"),
    ("en", "Spyware was sold to the Cambodian government.", "KH"),
    ("en", "Spyware was found on the phones of Laotian activists.", "LA"),
    ("en", "Spyware was used in Kandahar.", "AF"),
    ("en", "Spyware was sold to Iraqi security forces.", "IQ"),
    ("en", "Houthi rebels used spyware.", "YE"),
    ("en", "Spyware was used in Aden.", "YE"),
    ("en", "Spyware was sold to Zimbabwean police.", "ZW"),
    ("en", "Spyware was used in Muscat.", "OM"),
    ("en", "Spyware targeted Rwandan dissidents.", "RW"),
    ("en", "Spyware was used in Dushanbe.", "TJ"),
    ("en", "Spyware targeted Turkmen activists.", "TM"),
    ("en", "Spyware targeted Nicaraguan journalists.", "NI"),
    ("en", "Spyware was used in Havana.", "CU"),
    ("en", "Spyware targeted South Sudanese activists.", "SS"),
    ("en", "Spyware was sold to Algerian police.", "DZ"),
    ("en", "Spyware was used in Grodno.", "BY"),
    ("en", "Spyware was used in Muharraq.", "BH"),
    ("en", "Spyware was used in Diyarbakır.", "TR"),
    ("en", "Spyware was used against a Turk living in Berlin.", "TR"),
    ("nl", "Spyware werd verkocht aan de Qatarese staatsveiligheid.", "QA"),
    ("nl", "Spionagesoftware voor de Jordaanse geheime dienst.", "JO"),
    ("nl", "Spyware gebruikt tegen Jordaniërs.", "JO"),
    ("nl", "Spyware tegen Afghaanse journalisten.", "AF"),
    ("nl", "Spyware verkocht aan de Thaise politie.", "TH"),
    ("nl", "Spyware gebruikt tegen Iraakse activisten.", "IQ"),
    ("nl", "Spyware verkocht aan de Cubaanse overheid.", "CU"),
    ("nl", "Spyware gebruikt tegen Rwandezen in het buitenland.", "RW"),
    ("nl", "Spyware gebruikt tegen Noord-Koreanen.", "KP"),
    ("nl", "Spyware verkocht aan de Algerijnse politie.", "DZ"),
    ("nl", "Gezichtsherkenning in Istanboel.", "TR"),
    ("nl", "Spyware verkocht aan de Zimbabwaanse politie.", "ZW"),
    ("nl", "Spyware gebruikt tegen Turken.", "TR"),
    ("nl", "Spyware gebruikt tegen Chinezen.", "CN"),
    ("nl", "Spyware verkocht aan de Omaanse politie.", "OM"),
    ("nl", "Spyware gebruikt tegen Wit-Russen.", "BY"),
    ("nl", "Spyware gebruikt tegen Tadzjiekse journalisten.", "TJ"),
    ("fr", "La police jordanienne a acheté un logiciel espion.", "JO"),
    ("fr", "Un logiciel espion vendu aux services qatariens.", "QA"),
    ("fr", "Un logiciel espion utilisé contre des opposants cambodgiens.", "KH"),
    ("fr", "Un logiciel espion vendu à la police algérienne.", "DZ"),
    ("fr", "Un logiciel espion utilisé à Alger.", "DZ"),
    ("fr", "Un logiciel espion vendu aux forces irakiennes.", "IQ"),
    ("fr", "Un logiciel espion utilisé contre des journalistes rwandais.", "RW"),
    ("fr", "Un logiciel espion vendu au régime cubain.", "CU"),
    ("fr", "Un logiciel espion utilisé à Kaboul.", "AF"),
    ("fr", "Un logiciel espion vendu à la police thaïlandaise.", "TH"),
    ("fr", "Un logiciel espion utilisé contre des militants yéménites.", "YE"),
    ("fr", "Un logiciel espion utilisé contre des opposants laotiens.", "LA"),
    ("fr", "Un logiciel espion utilisé contre des opposants turkmènes.", "TM"),
    ("fr", "Un logiciel espion utilisé à La Havane.", "CU"),
    ("de", "Die Firma lieferte Spionagesoftware an kubanische Behörden.", "CU"),
    ("de", "Spionagesoftware für die jordanischen Behörden.", "JO"),
    ("de", "Spionagesoftware gegen Jordanier im Exil.", "JO"),
    ("de", "Spionagesoftware an katarische Sicherheitsbehörden.", "QA"),
    ("de", "Spionagesoftware für die omanische Polizei.", "OM"),
    ("de", "Spionagesoftware gegen Ruander im Ausland.", "RW"),
    ("de", "Spionagesoftware gegen tadschikische Oppositionelle.", "TJ"),
    ("de", "Spionagesoftware für die irakische Regierung.", "IQ"),
    ("de", "Spionagesoftware gegen Türken im Exil.", "TR"),
    ("de", "Spionagesoftware für die simbabwische Polizei.", "ZW"),
    ("de", "Spionagesoftware in Algier.", "DZ"),
    ("de", "Spionagesoftware gegen Nordkoreaner.", "KP"),
    ("de", "Spionagesoftware gegen Weißrussen.", "BY"),
    ("de", "Spionagesoftware für die nicaraguanische Polizei.", "NI"),
    ("de", "Spionagesoftware für die südsudanesische Armee.", "SS"),
    ("de", "Spionagesoftware für die laotische Polizei.", "LA"),
    ("de", "Spionagesoftware gegen Ägypter im Exil.", "EG"),
    ("es", "Programa espía para la policía jordana.", "JO"),
    ("es", "Programa espía vendido al gobierno cubano.", "CU"),
    ("es", "Programa espía contra periodistas afganas.", "AF"),
    ("es", "Programa espía para la policía tailandesa.", "TH"),
    ("es", "Programa espía para el ejército iraquí.", "IQ"),
    ("es", "Programa espía para la policía argelina.", "DZ"),
    ("es", "Programa espía contra activistas cataríes.", "QA"),
    ("es", "Programa espía para la policía camboyana.", "KH"),
    ("es", "Programa espía usado en Estambul.", "TR"),
    ("es", "Programa espía contra opositores nicaragüenses.", "NI"),
    ("es", "Programa espía para la policía egipcia.", "EG"),
    ("es", "Programa espía para la policía siria.", "SY"),
    ("es", "Programa espía usado en Saná.", "YE"),
    ("es", "Programa espía para la policía bielorrusa.", "BY"),
    ("es", "Programa espía para la policía turcomana.", "TM"),
    ("es", "Programa espía para la policía tayika.", "TJ"),
    ("es", "Programa espía para la policía ruandesa.", "RW"),
    ("es", "Programa espía para la policía zimbabuense.", "ZW"),
    ("es", "Programa espía para la policía laosiana.", "LA"),
    ("es", "Programa espía para la policía omaní.", "OM"),
    ("es", "Programa espía para la policía sursudanesa.", "SS"),
    # further tier added from domain.md section 4 (UG ... TZ), and the spellings that must not also
    # give a neighbour (Sud-Soudan / Süd-Sudan gave SD; "à la République ..." was read as "à la chinoise")
    ("en", "Spyware was sold to South Sudan.", "SS"),
    ("fr", "Un logiciel espion vendu au Sud-Soudan.", "SS"),
    ("de", "Spionagesoftware für den Süd-Sudan.", "SS"),
    ("en", "Spyware was sold to the Ugandan police.", "UG"),
    ("en", "Spyware was used in Kampala.", "UG"),
    ("nl", "Spyware verkocht aan de Oegandese politie.", "UG"),
    ("fr", "Un logiciel espion vendu à la police ougandaise.", "UG"),
    ("es", "Programa espía para la policía ugandesa.", "UG"),
    ("en", "Pakistani intelligence bought spyware.", "PK"),
    ("en", "Spyware was used in Karachi.", "PK"),
    ("nl", "Spyware gebruikt tegen Pakistanen.", "PK"),
    ("de", "Spionagesoftware gegen Pakistaner im Exil.", "PK"),
    ("es", "Programa espía para la policía paquistaní.", "PK"),
    ("en", "Spyware was used in Dhaka.", "BD"),
    ("fr", "Un logiciel espion vendu à la police bangladaise.", "BD"),
    ("de", "Spionagesoftware für die bangladeschische Polizei.", "BD"),
    ("es", "Programa espía usado en Daca.", "BD"),
    ("en", "Spyware was sold to Tunisia.", "TN"),
    ("en", "Spyware was used in Tunis.", "TN"),
    ("nl", "Spyware verkocht aan de Tunesische politie.", "TN"),
    ("es", "Programa espía para la policía tunecina.", "TN"),
    ("en", "Spyware was sold to Kuwaiti state security.", "KW"),
    ("nl", "Spyware verkocht aan de Koeweitse politie.", "KW"),
    ("fr", "Un logiciel espion vendu aux services koweïtiens.", "KW"),
    ("en", "Spyware targeted Kyrgyz journalists.", "KG"),
    ("fr", "Un logiciel espion utilisé à Bichkek.", "KG"),
    ("de", "Spionagesoftware für die kirgisische Polizei.", "KG"),
    ("es", "Programa espía para la policía kirguisa.", "KG"),
    ("en", "Spyware targeted Eritrean exiles.", "ER"),
    ("nl", "Spyware gebruikt tegen Eritrese vluchtelingen.", "ER"),
    ("de", "Spionagesoftware gegen Eritreer im Exil.", "ER"),
    ("es", "Programa espía para la policía eritrea.", "ER"),
    ("en", "Spyware was sold to Chad.", "TD"),
    ("en", "Spyware was used near Lake Chad.", "TD"),
    ("fr", "Un logiciel espion vendu à l'armée tchadienne.", "TD"),
    ("fr", "Un logiciel espion utilisé à N'Djamena.", "TD"),
    ("nl", "Spyware verkocht aan Tsjaad.", "TD"),
    ("es", "Programa espía para el ejército chadiano.", "TD"),
    ("en", "Spyware was used in Yaoundé.", "CM"),
    ("fr", "Un logiciel espion vendu à la police camerounaise.", "CM"),
    ("de", "Spionagesoftware in Kamerun.", "CM"),
    ("en", "Spyware targeted Burundian activists.", "BI"),
    ("nl", "Spyware gebruikt tegen Burundese activisten.", "BI"),
    ("fr", "Un logiciel espion utilisé à Bujumbura.", "BI"),
    ("en", "Spyware was sold to the Central African Republic.", "CF"),
    ("fr", "Un logiciel espion vendu à la République centrafricaine.", "CF"),
    ("fr", "Un logiciel espion utilisé en Centrafrique.", "CF"),
    ("es", "Programa espía para la policía centroafricana.", "CF"),
    ("en", "Spyware was sold to Equatorial Guinea.", "GQ"),
    ("en", "Spyware was used in Malabo.", "GQ"),
    ("fr", "Un logiciel espion vendu à la Guinée équatoriale.", "GQ"),
    ("es", "Programa espía para la policía ecuatoguineana.", "GQ"),
    ("en", "Spyware was sold to the Gabonese army.", "GA"),
    ("fr", "Un logiciel espion vendu au Gabon.", "GA"),
    ("de", "Spionagesoftware für die gabunische Armee.", "GA"),
    ("en", "Spyware was sold to Congo-Brazzaville.", "CG"),
    ("en", "Spyware was sold to the Republic of the Congo.", "CG"),
    ("en", "Spyware was sold to Congo (Brazzaville).", "CG"),
    ("fr", "Un logiciel espion vendu à la République du Congo.", "CG"),
    ("de", "Spionagesoftware für die Republik Kongo.", "CG"),
    ("es", "Programa espía vendido a la República del Congo.", "CG"),
    ("en", "Spyware was sold to Congo.", "CD"),
    ("en", "Spyware was sold to the DRC.", "CD"),
    ("en", "Spyware was sold to the Democratic Republic of the Congo.", "CD"),
    ("en", "Spyware was used in Goma.", "CD"),
    ("fr", "Un logiciel espion vendu à la République démocratique du Congo.", "CD"),
    ("fr", "Un logiciel espion vendu à la police de la RDC.", "CD"),
    ("nl", "Spyware verkocht aan de Democratische Republiek Congo.", "CD"),
    ("de", "Spionagesoftware für die Demokratische Republik Kongo.", "CD"),
    ("es", "Programa espía para la policía congoleña.", "CD"),
    ("en", "Spyware was sold to Zambian police.", "ZM"),
    ("nl", "Spyware verkocht aan de Zambiaanse politie.", "ZM"),
    ("de", "Spionagesoftware für die sambische Polizei.", "ZM"),
    ("es", "Programa espía para la policía zambiana.", "ZM"),
    ("en", "Spyware was used in Dar es Salaam.", "TZ"),
    ("en", "Spyware was used in Zanzibar.", "TZ"),
    ("fr", "Un logiciel espion vendu à la police tanzanienne.", "TZ"),
    ("es", "Programa espía para la policía tanzana.", "TZ"),
    ("fr", "Un logiciel espion vendu à la République populaire de Chine.", "CN"),
]

# Optional tier (MA, MX, IN ...): listed but silent by default; they alert once an operator switches the
# tier on.
OPTIONAL_POSITIVES = [
    ("en", "Spyware was sold to Morocco.", "MA"),
    ("en", "Spyware was sold to the Mexican police.", "MX"),
    ("en", "Spyware was used in Mexico City.", "MX"),
    ("es", "Programa espía para la policía mexicana.", "MX"),
    ("de", "Spionagesoftware für die mexikanische Polizei.", "MX"),
    ("en", "Spyware was sold to Indian police.", "IN"),
    ("en", "Spyware was used in Kashmir.", "IN"),
    ("nl", "Spyware verkocht aan de Indiase politie.", "IN"),
    ("fr", "Un logiciel espion vendu à l'Inde.", "IN"),
    ("de", "Spionagesoftware für Indien.", "IN"),
    ("de", "Spionagesoftware gegen Inder im Exil.", "IN"),
    ("es", "Programa espía para la policía india.", "IN"),
    ("es", "Programa espía para el gobierno indio.", "IN"),
    ("en", "Spyware was sold to El Salvador.", "SV"),
    ("fr", "Un logiciel espion vendu au Salvador.", "SV"),
    ("es", "Programa espía contra periodistas salvadoreños.", "SV"),
    ("en", "Spyware was sold to the Togolese police.", "TG"),
    ("en", "Spyware was used in Lomé.", "TG"),
    ("fr", "Un logiciel espion utilisé contre des opposants togolais.", "TG"),
    ("en", "Spyware was sold to Kenyan police.", "KE"),
    ("fr", "Un logiciel espion vendu à la police kényane.", "KE"),
    ("es", "Programa espía para la policía keniana.", "KE"),
    ("en", "Spyware was sold to Singaporean police.", "SG"),
    ("fr", "Un logiciel espion vendu à Singapour.", "SG"),
    ("en", "Spyware was used in Manila.", "PH"),
    ("nl", "Spyware verkocht aan de Filipijnse politie.", "PH"),
    ("es", "Programa espía para la policía filipina.", "PH"),
    ("en", "Spyware was used in Jakarta.", "ID"),
    ("nl", "Spyware verkocht aan de Indonesische politie.", "ID"),
    ("es", "Programa espía para la policía indonesia.", "ID"),
    ("en", "Spyware was sold to Malaysian police.", "MY"),
    ("de", "Spionagesoftware für die malaysische Polizei.", "MY"),
    ("es", "Programa espía para la policía malasia.", "MY"),
    ("en", "Spyware was used in Beirut.", "LB"),
    ("nl", "Spyware verkocht aan de Libanese politie.", "LB"),
    ("fr", "Un logiciel espion vendu à la Sûreté générale libanaise.", "LB"),
    ("en", "Spyware was sold to Georgia.", "GE"),
    ("en", "Spyware was used in Tbilisi.", "GE"),
    ("fr", "Un logiciel espion vendu à la police géorgienne.", "GE"),
    ("en", "Spyware was sold to Armenian police.", "AM"),
    ("en", "Spyware was used in Yerevan.", "AM"),
    ("es", "Programa espía para la policía armenia.", "AM"),
    ("en", "Spyware was used against Serbs in Belgrade.", "RS"),
    ("de", "Spionagesoftware für die serbische Polizei.", "RS"),
    ("es", "Programa espía para la policía serbia.", "RS"),
]


@pytest.mark.parametrize(("language", "body", "code"), POSITIVES)
def test_adjectives_peoples_and_places(matcher: Matcher, language: str, body: str, code: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
    assert alert is not None
    assert alert.destinations == [code]


@pytest.mark.parametrize(("language", "body", "code"), OPTIONAL_POSITIVES)
def test_optional_tier_alerts_only_when_switched_on(
    matcher: Matcher, optional_matcher: Matcher, language: str, body: str, code: str
) -> None:
    assert only_alert(matcher, news(body, language=language)) is None
    alert = only_alert(optional_matcher, news(body, language=language))
    assert alert is not None
    assert alert.destinations == [code]


# (language, body): every one names a technology, so only the defused destination keeps it quiet
TRAPS = [
    ("en", "Our Afghan hound hates the surveillance camera."),
    ("en", "Spyware researchers ate Thai food."),
    ("en", "Spyware researchers practise Muay Thai."),
    ("en", "Spyware researchers smoked Cuban cigars."),
    ("en", "Spyware researchers drank a Cuba libre."),
    ("en", "Spyware researchers ate Turkish delight and flew Turkish Airlines."),
    ("en", "Spyware researchers ate turkey at Christmas."),
    ("en", "Spyware researchers discussed the Istanbul Convention."),
    ("en", "Spyware researchers ate Muscat grapes."),
    ("en", "Ships in the Gulf of Aden were tracked by spyware researchers."),
    ("en", "Spyware researchers met at the Bagdad Cafe."),
    ("en", "Spyware researchers crocheted an afghan."),
    ("en", "Spyware was found on Air Jordan sneakers."),
    ("en", "Spyware researchers watched Cuba Gooding Jr."),
    ("nl", "Spyware-onderzoekers zongen Jordaanse liedjes in de kroeg."),
    ("nl", "De spyware-onderzoeker sprak plat Jordaans."),
    ("nl", "Spyware-onderzoekers aten Turks fruit en dronken Turkse koffie."),
    ("nl", "Spyware-onderzoekers rookten Cubaanse sigaren."),
    ("nl", "Spyware-onderzoekers aten in een Thais restaurant."),
    ("fr", "Des chercheurs en logiciels espions ont bu un café turc."),
    ("fr", "Un logiciel espion sur le collier d'un lévrier afghan."),
    ("fr", "Des chercheurs en logiciels espions fumaient des cigares de La Havane."),
    ("fr", "Des chercheurs en logiciels espions aiment le massage thaï."),
    ("fr", "Un logiciel espion a été trouvé à Laon."),
    ("fr", "Un logiciel espion et la crise des missiles de Cuba."),
    ("de", "Spionagesoftware-Forscher aßen türkischen Honig."),
    ("de", "Spionagesoftware-Forscher rauchten kubanische Zigarren."),
    ("de", "Spionagesoftware-Forscher gingen zur Thai-Massage."),
    ("de", "Spionagesoftware wurde in der Region Kuban gefunden."),
    ("de", "Die Sana Kliniken setzen keine Spionagesoftware ein."),
    ("de", "Spionagesoftware-Forscher besitzen einen afghanischen Windhund."),
    ("es", "Investigadores de programas espía fumaban puros cubanos."),
    ("es", "Un programa espía y la crisis de los misiles de Cuba."),
    ("es", "Jordana Brewster habló de programas espía."),
    ("es", "Catarina compró un programa espía."),
    ("es", "Investigadores de programas espía en un restaurante tailandés."),
    ("es", "Investigadores de programas espía tienen un galgo afgano."),
    # further tier added from domain.md section 4
    ("en", "Chad Smith reviewed the spyware."),
    ("en", "Spyware researchers flew Kuwait Airways to the conference."),
    ("en", "Spyware was found in the Congo Basin rainforest."),
    ("en", "Spyware was sold to Central African states."),
    ("de", "Spionagesoftware für zentralafrikanische Staaten."),
    ("es", "Goma de mascar y un programa espía en la mochila."),
    ("en", "Spyware researchers discussed the DACA programme."),
    # not listed, and must stay so: Guinea (Conakry) is not Equatorial Guinea, Niger not inside Nigeria,
    # and "Paki" is a slur, not Pakistani
    ("en", "Spyware was sold to Guinea."),
    ("fr", "Un logiciel espion vendu à la Guinée."),
    ("es", "Programa espía vendido a Guinea-Bisáu."),
    ("en", "Spyware was sold to Niger and Nigeria."),
    ("en", "Spyware researchers condemned the slur Paki."),
]


@pytest.mark.parametrize(("language", "body"), TRAPS)
def test_destination_traps_do_not_alert(matcher: Matcher, language: str, body: str) -> None:
    assert only_alert(matcher, news(body, language=language)) is None


# Traps of the optional tier, checked with the tier switched on (by default they could never alert).
OPTIONAL_TRAPS = [
    ("en", "Police in Atlanta, Georgia, bought facial recognition software."),
    ("en", "Georgia's governor signed a law on facial recognition."),
    ("en", "Spyware researchers at the University of Georgia published a report."),
    ("en", "Georgia Tech researchers studied spyware."),
    ("en", "Spyware was found in Georgia, USA."),
    ("en", "Georgia state lawmakers debated facial recognition."),
    ("en", "Georgia May Jagger talked about spyware."),
    ("en", "Spyware was hidden in a Georgian townhouse in Bath."),
    ("en", "Police in Lebanon, Pennsylvania, bought facial recognition software."),
    ("en", "India Hicks talked about spyware."),
    ("en", "Spyware researchers flew Air India to the conference."),
    ("en", "Spyware was found on ships in the Indian Ocean."),
    ("en", "Police in Indiana bought facial recognition software."),
    ("en", "Spyware researchers met in Indio, California."),
    ("nl", "Indien de politie spyware koopt, volgt een onderzoek."),
    ("nl", "De minister moet een verzoek over spyware indienen."),
    ("nl", "Spyware-onderzoekers lazen boeken over Indianen."),
    ("de", "Spionagesoftware für die Indianer-Ausstellung."),
    ("de", "Spionagesoftware-Forscher tragen Kaschmir-Pullover."),
    ("fr", "Un logiciel espion et la Compagnie des Indes."),
    ("en", "Police in New Mexico bought facial recognition software."),
    ("en", "Spyware was found on ships in the Gulf of Mexico."),
    ("en", "Spyware researchers ate Mexican food."),
    ("fr", "Un logiciel espion dans un tableau de Salvador Dalí."),
    ("fr", "Un logiciel espion vendu à Salvador de Bahia."),
    ("en", "Spyware researchers ordered coffee to go."),
    ("en", "The Lomé Convention says nothing about spyware."),
    ("es", "La policía de Armenia, Quindío, compró cámaras de reconocimiento facial."),
    ("es", "La policía de la ciudad colombiana de Armenia compró cámaras de reconocimiento facial."),
    ("en", "Spyware researchers flew Singapore Airlines to the conference."),
    ("en", "Spyware researchers flew Malaysia Airlines to the conference."),
    ("en", "Spyware researchers watched the Singapore Grand Prix."),
    ("en", "Spyware researchers watched the Malaysian Grand Prix."),
    ("en", "Spyware researchers bought Manila envelopes."),
    ("en", "Spyware was found in Papua New Guinea."),
    ("en", "Spyware researchers discussed the Serbo-Croatian language."),
]


@pytest.mark.parametrize(("language", "body"), OPTIONAL_TRAPS)
def test_optional_tier_traps_do_not_alert(optional_matcher: Matcher, language: str, body: str) -> None:
    assert only_alert(optional_matcher, news(body, language=language)) is None


def test_jordaans_is_dutch_only(matcher: Matcher) -> None:
    body = "Spyware voor de Jordaanse geheime dienst."
    assert only_alert(matcher, news(body, language="nl")) is not None
    assert only_alert(matcher, news(body, language="en")) is None


def test_alger_is_french_only(matcher: Matcher) -> None:
    assert only_alert(matcher, news("Un logiciel espion utilisé à Alger.", language="fr")) is not None
    assert only_alert(matcher, news("Spyware researchers read Alger Hiss.", language="en")) is None


# Congolese, congolais, kongolesisch and congoleño name both Congos; destinations.yaml gives them to CD.
NO_OWN_ADJECTIVES = {"CG"}


def test_every_alerting_destination_has_adjectives_in_five_languages() -> None:
    lists = watchlists.load()
    thin = [
        code
        for code, entry in lists.destinations.items()
        if entry.tier in ("core", "further") and len(entry.adjectives) < 4 and code not in NO_OWN_ADJECTIVES
    ]
    assert thin == []


def test_domain_further_and_optional_destinations_are_listed() -> None:
    """shared/domain.md section 4: the further and optional tiers."""
    further = [
        "UG",
        "PK",
        "BD",
        "TN",
        "KW",
        "KG",
        "ER",
        "TD",
        "CM",
        "BI",
        "CF",
        "GQ",
        "GA",
        "CG",
        "CD",
        "ZM",
        "TZ",
    ]
    optional = ["MA", "MX", "IN", "SV", "TG", "KE", "SG", "PH", "ID", "MY", "LB", "GE", "AM", "RS"]
    lists = watchlists.load()
    assert {code: lists.destinations[code].tier for code in further} == dict.fromkeys(further, "further")
    assert {code: lists.destinations[code].tier for code in optional} == dict.fromkeys(optional, "optional")
    assert "optional" not in lists.alert_tiers


# ---- tier none: not high-risk, named so that the matcher recognises another buyer -------------------
# (shared/domain.md section 4): the 27 EU members, the EU itself, and the other countries listed at the
# end of destinations.yaml. Their mentions never raise alerts.
NONE_TIER = [
    *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT"),
    *("LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "EU", "GB", "US", "CA", "AU", "NZ", "IL"),
    *("CH", "NO", "IS", "UA", "MD", "JP", "KR", "TW", "BR", "AR", "CL", "CO", "PE", "EC", "UY", "PA", "GT"),
    *("HN", "PY", "BO", "DO", "CR", "NG", "GH", "ZA", "SN", "CI", "MG", "BW", "MW", "MZ", "NA", "BJ"),
]

# (language, body, the country the matcher must recognise): a domestic story, the country as the buyer
# or user of the technology
NONE_TIER_SAMPLES = [
    ("en", "Spanish intelligence bought spyware.", "ES"),
    ("en", "British councils bought facial recognition cameras.", "GB"),
    ("en", "Italian intelligence used spyware against activists.", "IT"),
    ("en", "Greek intelligence EYP used Predator spyware.", "GR"),
    ("en", "The FBI bought spyware.", "US"),
    ("en", "South Korea's NIS used spyware against journalists.", "KR"),
    ("en", "Polish anti-corruption agents used Pegasus spyware.", "PL"),
    ("nl", "De AIVD kocht spyware.", "NL"),
    ("nl", "De Belgische Staatsveiligheid kocht spyware.", "BE"),
    ("de", "Der BND kaufte Spionagesoftware.", "DE"),
    ("fr", "La DGSI a acheté un logiciel espion.", "FR"),
    ("es", "La policía colombiana compró un programa espía.", "CO"),
]


@pytest.mark.parametrize(("language", "body", "code"), NONE_TIER_SAMPLES)
def test_not_high_risk_buyer_is_recognised_and_never_alerts(
    matcher: Matcher, language: str, body: str, code: str
) -> None:
    found = {h.ref for h in matcher.index.scan("body", body, language) if h.kind == "destination"}
    assert found == {code}
    assert matcher.lists.destinations[code].tier == "none"
    assert only_alert(matcher, news(body, language=language)) is None


def test_not_high_risk_countries_are_listed_at_tier_none() -> None:
    lists = watchlists.load()
    assert len(NONE_TIER) == len(set(NONE_TIER)) == 67
    assert {code: lists.destinations[code].tier for code in NONE_TIER} == dict.fromkeys(NONE_TIER, "none")
    assert "none" not in lists.alert_tiers
