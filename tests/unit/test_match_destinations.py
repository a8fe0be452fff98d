"""Destinations: adjectives, peoples and places in the five languages, and the traps they bring
(services/match/watchlists/destinations.yaml)."""

from __future__ import annotations

import pytest

from services.match.core import watchlists
from services.match.core.engine import Matcher
from tests.unit.test_match_rules import news, only_alert


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


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
]


@pytest.mark.parametrize(("language", "body", "code"), POSITIVES)
def test_adjectives_peoples_and_places(matcher: Matcher, language: str, body: str, code: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
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
]


@pytest.mark.parametrize(("language", "body"), TRAPS)
def test_destination_traps_do_not_alert(matcher: Matcher, language: str, body: str) -> None:
    assert only_alert(matcher, news(body, language=language)) is None


def test_jordaans_is_dutch_only(matcher: Matcher) -> None:
    body = "Spyware voor de Jordaanse geheime dienst."
    assert only_alert(matcher, news(body, language="nl")) is not None
    assert only_alert(matcher, news(body, language="en")) is None


def test_alger_is_french_only(matcher: Matcher) -> None:
    assert only_alert(matcher, news("Un logiciel espion utilisé à Alger.", language="fr")) is not None
    assert only_alert(matcher, news("Spyware researchers read Alger Hiss.", language="en")) is None


def test_every_alerting_destination_has_adjectives_in_five_languages() -> None:
    lists = watchlists.load()
    thin = [
        code
        for code, entry in lists.destinations.items()
        if entry.tier in ("core", "further") and len(entry.adjectives) < 4
    ]
    assert thin == []
