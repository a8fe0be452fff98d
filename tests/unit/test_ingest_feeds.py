"""Feed items as they arrive in the wild: odd dates, wrong encodings, HTML-only bodies, boilerplate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from schemas import NewsArticle
from services.ingest.core.feeds import REASONS, parse_date, parse_feed
from services.ingest.core.html import html_to_text
from services.ingest.core.language import LanguageDetector, fill_language
from services.ingest.core.results import Parsed, Rejected
from tests.conftest import BUNDLED_SAMPLES

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def rss(*items: bytes, channel: bytes = b"", encoding: bytes = b"utf-8") -> bytes:
    return (
        b'<?xml version="1.0" encoding="' + encoding + b'"?>'
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
        + channel
        + b"".join(items)
        + b"</channel></rss>"
    )


def item(title: str = "Title", link: str = "https://news.example/a", extra: str = "") -> bytes:
    return f"<item><title>{title}</title><link>{link}</link>{extra}</item>".encode()


def split(results: list[Parsed]) -> tuple[list[NewsArticle], list[Rejected]]:
    articles = [r for r in results if isinstance(r, NewsArticle)]
    rejected = [r for r in results if isinstance(r, Rejected)]
    assert len(articles) + len(rejected) == len(results)
    return articles, rejected


def only_article(data: bytes, **kwargs: Any) -> NewsArticle:
    (result,) = list(parse_feed(data, "feed", NOW, **kwargs))
    assert isinstance(result, NewsArticle), result
    return result


# --- HTML -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<p>Intro</p><ul><li>first</li><li>second</li></ul><p>After</p>", "Intro\n\nfirst\nsecond\n\nAfter"),
        # Unclosed <p> and <li>, as CMS output often is.
        ("<p>One<p>Two<ul><li>a<li>b</ul>Three", "One\n\nTwo\n\na\nb\n\nThree"),
        ("Caf&eacute;&nbsp;&amp;&#160;bar &#8217;s &lt;b&gt;", "Café & bar ’s <b>"),
        # A source line wrap is a space; a blank line and <br><br> are paragraph breaks.
        ("<p>Spyware was\n   sold to\nthe police.</p>", "Spyware was sold to the police."),
        ("First <b>bold</b> para.\n\nSecond para.", "First bold para.\n\nSecond para."),
        ("Line one<br>line two<br><br>New para", "Line one\nline two\n\nNew para"),
        ("<table><tr><th>Year<th>Value<tr><td>2024<td>40,000</table>", "Year Value\n2024 40,000"),
        ("<pre>a  b\n  c</pre>", "a b\nc"),
        # Plain text (titles, text summaries) keeps its line breaks.
        ("Plain text\nwith lines\n\n\n\nand more &amp; more", "Plain text\nwith lines\n\nand more & more"),
        ("<p>Text</p><script>if (a < b) { document.write('<p>x</p>') }</script>", "Text"),
        ("<p>Text<style>p { color: red }</style><noscript>Enable JS</noscript></p>", "Text"),
        ("<img src='a.jpg' alt='A photo'><iframe src='https://video.example'>Fallback</iframe>", ""),
        ("", ""),
        # A malformed marked section made Python's parser raise (before 3.13); browsers show it as text.
        ("<p>a <![ b</p><p>c", "a <![ b\n\nc"),
    ],
)
def test_html_structure(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    "box",
    [
        '<div class="share-bar">Share on Facebook</div>',
        '<div class="article-share">Share on Facebook</div>',
        '<ul class="social"><li>Facebook<li>X</ul>',
        '<div class="related-articles"><h3>Related</h3><a>Other story</a></div>',
        '<div class="c-read-more"><a>Read more</a></div>',
        '<div class="box newsletter-signup">Subscribe to our newsletter</div>',
        '<div id="cookie-banner">We use cookies</div>',
        '<div id="onetrust-banner-sdk">We use cookies</div>',
        '<div class="ad">Buy now</div>',
        '<div class="ads">Buy now</div>',
        '<div class="ad-slot ad-slot--mpu">Buy now</div>',
        '<div class="sidebar-ad">Buy now</div>',
        '<div class="advertisement">Buy now</div>',
        '<ins class="adsbygoogle">Buy now</ins>',
        '<div class="sponsored-content">Buy now</div>',
        '<div class="promo">Buy now</div>',
        '<section id="comments"><p>First!</p></section>',
        '<nav class="breadcrumbs">Home › World</nav>',
        '<ol class="breadcrumb"><li>Home<li>World</ol>',
        '<div role="navigation">Home World</div>',
        '<div role="complementary">More from us</div>',
        "<div hidden>Hidden text</div>",
        '<span aria-hidden="true">Icon text</span>',
        '<div style="display: none">Hidden text</div>',
        "<aside><p>Most read</p></aside>",
        "<form><label>Email</label><button>Send</button></form>",
    ],
)
def test_boilerplate_boxes_are_dropped(box: str) -> None:
    assert html_to_text(f"<p>Before.</p>{box}<p>After.</p>") == "Before.\n\nAfter."


@pytest.mark.parametrize(
    "markup",
    [
        '<div class="shared-content">Kept</div>',
        '<div class="adaptive-layout">Kept</div>',
        '<div class="download">Kept</div>',
        '<div class="commentary">Kept</div>',
        '<div class="shadow">Kept</div>',
        '<div class="has-ads">Kept</div>',
        '<div class="layout-with-sidebar">Kept</div>',
        '<article class="post tag-social-media has-comments">Kept</article>',
        '<div hidden="until-found">Kept</div>',
        '<span aria-hidden="false">Kept</span>',
    ],
)
def test_words_that_only_contain_a_boilerplate_name_are_kept(markup: str) -> None:
    assert html_to_text(markup) == "Kept"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        # A nested box and inner blocks: the skip ends where the outer box ends, not at the first </div>.
        ('<div class="related"><div><div class="share">x</div><p>Other</div>y</div><p>Kept', "Kept"),
        # Void tags and unclosed <p>/<li> inside a skipped box do not unbalance it.
        ('<div class="ad"><img src="a.gif"><br><hr><input><p>Ad one<p>Ad two</div><p>Kept', "Kept"),
        ('<ul class="share-links"><li>Facebook<li>Mastodon</ul><p>Kept', "Kept"),
        # An extra </div> with nothing to close is ignored; a missing one ends with the parent.
        ("<aside><div>a</div></div>b</aside><p>Kept", "Kept"),
        ('<section><div class="promo">Offer</section><p>Kept', "Kept"),
        # A self-closed (XHTML) box opens nothing.
        ('<div class="ad"/><p>Kept', "Kept"),
    ],
)
def test_skipped_blocks_end_where_their_element_ends(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


ARTICLE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Spyware sold to Gulf police | The Example</title>
<meta charset="utf-8"><link rel="stylesheet" href="/s.css"><script>window.dataLayer=[];</script></head>
<body class="single-post has-sidebar">
<header class="site-header"><a class="logo" href="/">The Example</a>
  <nav><ul><li><a href="/world">World</a><li><a href="/tech">Tech</a></ul></nav>
  <button aria-label="Search">Search</button></header>
<div id="cookie-consent" role="dialog"><p>We use cookies to improve your experience.
  <button>Accept all</button></div>
<main>
<article class="post">
  <header><h1>European spyware sold to Gulf police</h1>
    <p class="byline">By A. Reporter &middot; 23 November 2026</p></header>
  <div class="share-tools"><a href="#">Share on X</a><a href="#">Share on Facebook</a></div>
  <div class="article-body">
    <p>A European company sold <b>phone-hacking spyware</b> to police in Bahrain,
       according to documents seen by The Example.
    <p>The export licence was granted in 2025.</p>
    <figure><img src="/p.jpg" alt="Police"><figcaption>Police in Manama.</figcaption></figure>
    <div class="ad ad-mpu"><iframe src="https://ads.example/1"></iframe><p>Advertisement</div>
    <p>The company did not respond:</p>
    <ul><li>to emails<li>to calls</ul>
  </div>
  <aside class="related-articles"><h2>Related</h2><ul><li><a href="/a">Drones for Egypt</a></ul></aside>
  <section id="comments"><h2>3 comments</h2><p>Great article!</p></section>
</article>
</main>
<footer><p>&copy; 2026 The Example</p></footer>
</body></html>"""


def test_realistic_article_page() -> None:
    assert html_to_text(ARTICLE_PAGE) == (
        "European spyware sold to Gulf police\n\n"
        "By A. Reporter · 23 November 2026\n\n"
        "A European company sold phone-hacking spyware to police in Bahrain, according to documents "
        "seen by The Example.\n\n"
        "The export licence was granted in 2025.\n\n"
        "Police in Manama.\n\n"
        "The company did not respond:\n\n"
        "to emails\nto calls"
    )


# --- Feeds: rejections -------------------------------------------------------------------------------


def test_reasons_are_a_short_fixed_snake_case_list() -> None:
    assert len(set(REASONS)) == len(REASONS) <= 8
    assert all(r.isidentifier() and r.islower() for r in REASONS)


@pytest.mark.parametrize("data", [b"", b"<html><body><p>Moved</p></body></html>", b"<opml version='2.0'/>"])
def test_well_formed_input_that_is_no_feed_is_invalid(data: bytes) -> None:
    (result,) = list(parse_feed(data, "feed", NOW))
    assert isinstance(result, Rejected) and result.reason == "invalid_feed"


def test_an_encoding_declaration_that_breaks_feedparser_is_an_invalid_feed() -> None:
    (result,) = list(parse_feed(rss(item(), encoding=b"\x82"), "feed", NOW))
    assert isinstance(result, Rejected) and result.reason == "invalid_feed"


def test_a_feed_without_entries_is_fine() -> None:
    assert list(parse_feed(rss(), "feed", NOW)) == []


def test_html_only_entries() -> None:
    data = rss(
        item(title="", extra="<description><![CDATA[<img src='x.jpg'><script>t()</script>]]></description>"),
        item(
            title="Drone footage from the border",
            link="https://news.example/b",
            extra="<description><![CDATA[<iframe src='https://video.example/1'></iframe>]]></description>",
        ),
    )
    articles, rejected = split(list(parse_feed(data, "feed", NOW)))
    assert [(r.reason, r.line) for r in rejected] == [("no_text", 1)]
    assert b"<img" in rejected[0].raw
    assert [(a.title, a.body) for a in articles] == [("Drone footage from the border", "")]


def test_too_large_entry_is_rejected_and_the_rest_flows() -> None:
    big = "<p>" + "Überwachung " * 1000 + "</p>"
    data = rss(
        item(link="https://news.example/1"),
        item(title="Big", link="https://news.example/2", extra=f"<description>{big}</description>"),
        item(link="https://news.example/3"),
    )
    articles, rejected = split(list(parse_feed(data, "feed", NOW, max_item_bytes=10_000)))
    assert [a.url for a in articles] == ["https://news.example/1", "https://news.example/3"]
    ((reason, line, raw),) = [(r.reason, r.line, r.raw) for r in rejected]
    assert (reason, line) == ("too_large", 2)
    assert len(raw) == 4096 and raw.startswith(b"Big\n\n")
    # The default limit lets the same entry through.
    assert len([r for r in parse_feed(data, "feed", NOW) if isinstance(r, NewsArticle)]) == 3


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        # Atom: a tag: id, a self and an edit link before the alternate one.
        (
            '<entry><id>tag:news.example,2026:1</id><title>T</title><link rel="self" href="https://'
            'news.example/feed/1"/><link rel="edit" href="https://news.example/edit/1"/><link rel="alternate"'
            ' type="text/html" href="https://news.example/a"/><link rel="enclosure" href="https://news.example'
            '/a.mp3"/></entry>',
            "https://news.example/a",
        ),
        # Atom: an HTML alternate is preferred over a PDF one, whatever the order.
        (
            '<entry><id>tag:news.example,2026:2</id><title>T</title><link rel="alternate" type="application'
            '/pdf" href="https://news.example/a.pdf"/><link href="https://news.example/a"/></entry>',
            "https://news.example/a",
        ),
        # Atom: an id that is a URL, no link at all.
        ("<entry><id>https://news.example/a</id><title>T</title></entry>", "https://news.example/a"),
    ],
)
def test_atom_links(entry: str, url: str) -> None:
    atom = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{entry}</feed>'.encode()
    assert only_article(atom).url == url


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        (
            '<item><title>T</title><guid isPermaLink="true">https://news.example/a</guid></item>',
            "https://news.example/a",
        ),
        ("<item><title>T</title><guid>https://news.example/a</guid></item>", "https://news.example/a"),
        # A relative link is resolved against the channel's link.
        ("<item><title>T</title><link>/world/a?utm_source=rss</link></item>", "https://news.example/world/a"),
    ],
)
def test_rss_links(entry: str, url: str) -> None:
    assert only_article(rss(entry.encode(), channel=b"<link>https://news.example/</link>")).url == url


@pytest.mark.parametrize(
    "entry",
    [
        b'<item><title>T</title><guid isPermaLink="false">7f3a-2026-11</guid></item>',
        b"<item><title>T</title><guid>7f3a-2026-11</guid></item>",
        b"<item><title>T</title><link>javascript:void(0)</link></item>",
        b"<item><title>T</title><link>https://[2001:db8::1/a</link></item>",
        b"<item><title>T</title><link>https://news.example:99999/a</link></item>",
    ],
)
def test_rss_entries_without_a_usable_link(entry: bytes) -> None:
    (result,) = list(parse_feed(rss(entry, channel=b"<link>https://news.example/</link>"), "feed", NOW))
    assert isinstance(result, Rejected) and result.reason == "missing_link"


def test_atom_entry_with_only_a_tag_id_has_no_link() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>tag:news.example,2026:3</id>'
        b'<title>T</title><link rel="related" href="https://other.example/x"/></entry></feed>'
    )
    (result,) = list(parse_feed(atom, "feed", NOW))
    assert isinstance(result, Rejected) and result.reason == "missing_link"


# --- Feeds: encodings --------------------------------------------------------------------------------

TITLE = "Überwachungssoftware für Ägypten: Behörden prüfen Ausfuhr"


def mojibake(text: str) -> str:
    """UTF-8 read as Windows-1252 and written out again as UTF-8: "Ã¼" for "ü"."""
    return text.encode().decode("cp1252")


def test_decomposed_accents_are_composed_without_a_repair_flag() -> None:
    decomposed = "Sécurité".replace("é", "e\u0301")
    article = only_article(rss(item(title=decomposed)))
    assert (article.title, article.model_extra) == ("Sécurité", {"published_at_inferred": True})


def test_wrong_declared_encoding_is_not_an_invalid_feed() -> None:
    data = rss(item(title=TITLE), encoding=b"utf-8").replace(TITLE.encode(), TITLE.encode("latin-1"))
    assert only_article(data).title == TITLE


def test_a_double_encoded_entry_is_repaired_and_the_others_left_alone() -> None:
    good = "Les autorités françaises ont autorisé l’exportation"
    data = rss(
        item(title=good, link="https://news.example/1"),
        item(
            title=mojibake(TITLE),
            link="https://news.example/2",
            extra=f"<description>{mojibake('<p>Die Behörde prüft.</p>')}</description>",
        ),
    )
    articles, rejected = split(list(parse_feed(data, "feed", NOW)))
    assert rejected == []
    assert [(a.title, a.model_extra) for a in articles] == [
        (good, {"published_at_inferred": True}),
        (TITLE, {"published_at_inferred": True, "encoding_repaired": True}),
    ]
    assert articles[1].body == "Die Behörde prüft."


def test_mixed_encodings_in_one_feed_are_repaired() -> None:
    # One UTF-8 entry, one Latin-1 entry: feedparser falls back to Windows-1252 for the whole feed,
    # turning the UTF-8 entry into mojibake, which ftfy undoes.
    latin1 = "<item><title>Sécurité nationale</title><link>https://news.example/2</link></item>"
    data = rss(item(title=TITLE, link="https://news.example/1"), latin1.encode("latin-1"))
    articles, rejected = split(list(parse_feed(data, "feed", NOW)))
    assert rejected == []
    assert [a.title for a in articles] == [TITLE, "Sécurité nationale"]


def test_encoding_damaged_beyond_repair_is_published_and_reported_once() -> None:
    data = rss(
        item(title="Gesichtserkennung f\ufffdr die Polizei", link="https://news.example/1"),
        item(title="Intact title", link="https://news.example/2"),
    )
    results = list(parse_feed(data, "feed", NOW))
    articles, rejected = split(results)
    assert [a.title for a in articles] == ["Gesichtserkennung f\ufffdr die Polizei", "Intact title"]
    assert articles[0].model_extra == {"published_at_inferred": True, "encoding_damaged": True}
    assert [r.reason for r in rejected] == ["invalid_encoding"]
    assert "1 of 2 entries" in rejected[0].detail and "entries 1;" in rejected[0].detail
    assert results[-1] is rejected[0]


def test_malformed_xml_with_a_wrong_encoding_is_still_invalid() -> None:
    data = rss(item(title="Sécurité & co")).replace("Sécurité".encode(), "Sécurité".encode("latin-1"))
    articles, rejected = split(list(parse_feed(data, "feed", NOW)))
    assert [r.reason for r in rejected] == ["invalid_feed"]
    assert [a.title for a in articles] == ["Sécurité & co"]


# --- Feeds: dates ------------------------------------------------------------------------------------


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("raw", "published", "extra"),
    [
        ("Mon, 23 Nov 2026 09:05:00 +0100", utc(2026, 11, 23, 8, 5), {}),
        ("Mon, 23 Nov 2026 09:05:00 CET", utc(2026, 11, 23, 8, 5), {}),
        ("2026-11-23T09:05:00Z", utc(2026, 11, 23, 9, 5), {}),
        ("Mon, 23 Nov 2026 09:05:00", utc(2026, 11, 23, 9, 5), {"published_at_assumed_utc": True}),
        ("23/11/2026 14:05", utc(2026, 11, 23, 14, 5), {"published_at_assumed_utc": True}),
        ("03/11/2026", utc(2026, 11, 3), {"published_at_assumed_utc": True}),
        ("2026-03-11", utc(2026, 3, 11), {"published_at_assumed_utc": True}),
        ("23.11.2026, 14.05 Uhr MEZ", utc(2026, 11, 23, 13, 5), {}),
        ("lundi 23 novembre 2026 à 14h05", utc(2026, 11, 23, 14, 5), {"published_at_assumed_utc": True}),
        ("1er décembre 2025", utc(2025, 12, 1), {"published_at_assumed_utc": True}),
        ("23 november 2026 om 14:05", utc(2026, 11, 23, 14, 5), {"published_at_assumed_utc": True}),
        ("23 maart 2026", utc(2026, 3, 23), {"published_at_assumed_utc": True}),
        ("Montag, 23. November 2026", utc(2026, 11, 23), {"published_at_assumed_utc": True}),
        ("23. März 2026", utc(2026, 3, 23), {"published_at_assumed_utc": True}),
        ("23 de noviembre de 2026 a las 14:05 CET", utc(2026, 11, 23, 13, 5), {}),
        # Further ahead than two days: kept, but marked; so is an epoch-zero placeholder.
        ("Fri, 27 Nov 2026 09:00:00 +0000", utc(2026, 11, 27, 9), {"published_at_suspect": True}),
        ("Wed, 25 Nov 2026 09:00:00 +0000", utc(2026, 11, 25, 9), {}),
        ("Thu, 01 Jan 1970 00:00:00 +0000", utc(1970, 1, 1), {"published_at_suspect": True}),
        # Not a date: the article is kept with the ingest time and the raw string.
        *(
            (raw, NOW, {"published_at_inferred": True, "published_raw": raw})
            for raw in ("gestern", "23 novembre", "Sun, 29 Feb 2026 10:00 GMT")
        ),
    ],
)
def test_publication_dates(raw: str, published: dt.datetime, extra: dict[str, Any]) -> None:
    article = only_article(rss(item(extra=f"<pubDate>{raw}</pubDate>")))
    assert (article.published_at, article.model_extra) == (published, extra)


def test_an_unparsed_published_date_is_tried_before_the_updated_one() -> None:
    # dc:date "2026" is what feedparser can read (as 1 January); pubDate is the real date.
    entry = item(extra="<pubDate>23/11/2026 14:05</pubDate><dc:date>2026</dc:date>")
    assert only_article(rss(entry)).published_at == utc(2026, 11, 23, 14, 5)


def test_dc_date_is_used_when_there_is_no_pubdate() -> None:
    entry = item(extra="<dc:date>23 de noviembre de 2026</dc:date>")
    assert only_article(rss(entry)).published_at == utc(2026, 11, 23)


@pytest.mark.parametrize("raw", ["", "14:05", "2026", "1700000000", "x" * 200, "0001-01-01T00:00:00+01:00"])
def test_parse_date_refuses_partial_dates(raw: str) -> None:
    assert parse_date(raw) is None


# --- Feeds and articles: language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "language"),
    [
        (rss(item(), channel=b"<language>fr-FR</language>"), "fr"),
        (rss(item(extra="<dc:language>de</dc:language>"), channel=b"<language>fr</language>"), "de"),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="nl-BE"><title>t</title><entry>'
            b'<title>T</title><link href="https://news.example/a"/></entry></feed>',
            "nl",
        ),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>t</title><entry xml:lang="es">'
            b'<title>T</title><link href="https://news.example/a"/></entry></feed>',
            "es",
        ),
        (
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
            b' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="https://news.example/"><title>t'
            b"</title><link>https://news.example/</link><dc:language>es</dc:language></channel>"
            b'<item rdf:about="https://news.example/a"><title>T</title><link>https://news.example/a</link>'
            b"</item></rdf:RDF>",
            "es",
        ),
    ],
)
def test_the_feed_states_the_language(data: bytes, language: str, detector: LanguageDetector) -> None:
    article = only_article(data, language="en", detector=detector)
    assert article.language == language
    assert "language_detected" not in (article.model_extra or {})


def test_configured_language_when_the_feed_says_nothing(detector: LanguageDetector) -> None:
    article = only_article(rss(item(title=TITLE)), language="de", detector=detector)
    assert (article.language, article.model_extra) == ("de", {"published_at_inferred": True})


def test_bundled_feed_languages_are_detected(detector: LanguageDetector) -> None:
    data = (BUNDLED_SAMPLES / "watchdog-feed.rss").read_bytes()
    articles, rejected = split(list(parse_feed(data, "demo", NOW, detector=detector)))
    assert rejected == []
    assert [a.language for a in articles] == ["fr", "de", "es", "en"]
    assert all(a.model_extra == {"language_detected": True} for a in articles)
    assert [a.language for a in split(list(parse_feed(data, "demo", NOW)))[0]] == [None] * 4


NEWS = {
    "en": "A British company supplied phone-hacking tools to police in Bahrain last year, according to "
    "documents seen by reporters. The government said the export licence had been approved in line "
    "with existing rules.",
    "nl": "Een Nederlands bedrijf heeft vorig jaar software voor gezichtsherkenning geleverd aan de politie "
    "in Saoedi-Arabië. Het ministerie van Buitenlandse Zaken zegt dat de exportvergunning volgens de "
    "regels is verleend.",
    "fr": "Une entreprise française a vendu des logiciels d'espionnage aux services de sécurité égyptiens, "
    "selon des documents consultés par notre rédaction. Le ministère n'a pas souhaité commenter.",
    "de": "Ein deutscher Hersteller hat Überwachungstechnik an die Polizei in Belarus geliefert, wie aus "
    "internen Unterlagen hervorgeht. Die Bundesregierung prüft nun, ob die Ausfuhr genehmigt wurde.",
    "es": "Una empresa española vendió cámaras con reconocimiento facial a la policía de Arabia Saudí, "
    "según documentos filtrados. El Gobierno asegura que la licencia de exportación se concedió "
    "conforme a la ley.",
}


@pytest.mark.parametrize(("language", "text"), NEWS.items())
def test_detect_news_languages(language: str, text: str, detector: LanguageDetector) -> None:
    assert detector.detect(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n ",
        "Spyware maker fined",  # 17 letters: too short to trust
        "5A001.j, 5A002, 5D001 — 2026",
        "Court blocks sale of surveillance drones",  # low-accuracy mode is torn between fr and en
    ],
)
def test_detect_returns_none_when_unsure(text: str, detector: LanguageDetector) -> None:
    assert detector.detect(text) is None


def test_detector_needs_known_codes() -> None:
    with pytest.raises(ValueError, match="xx"):
        LanguageDetector(["en", "xx"])
    with pytest.raises(ValueError, match="two"):
        LanguageDetector(["en", "EN"])


def news(language: str | None, title: str, body: str) -> NewsArticle:
    return NewsArticle(
        id="news-1",
        source="feed",
        url="https://news.example/a",
        title=title,
        body=body,
        language=language,
        published_at=NOW,
    )


def test_fill_language(detector: LanguageDetector) -> None:
    detected = fill_language(news(None, "Spionagesoftware für Belarus", NEWS["de"]), detector)
    assert (detected.language, detected.model_extra) == ("de", {"language_detected": True})
    # A stated language is the publisher's word: kept even where the text says otherwise.
    stated = news("en", "Spionagesoftware für Belarus", NEWS["de"])
    assert fill_language(stated, detector) is stated
    unsure = news(None, "Spyware", "")
    assert fill_language(unsure, detector) is unsure
