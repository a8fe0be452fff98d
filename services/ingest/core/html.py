"""HTML to clean plain text: paragraphs kept, scripts, page furniture and boilerplate boxes dropped."""

from __future__ import annotations

import re
from collections import defaultdict
from html import unescape
from html.parser import HTMLParser

# Elements whose content is never article text.
_SKIP_TAGS = frozenset(
    {
        *("script", "style", "noscript", "template", "head", "title", "svg", "canvas", "math"),
        *("nav", "footer", "aside", "form", "button", "select", "textarea", "label", "dialog", "menu"),
        *("iframe", "object", "video", "audio", "map"),
    }
)
_SKIP_ROLES = frozenset(
    {"navigation", "complementary", "banner", "contentinfo", "search", "menu", "menubar", "dialog"}
    | {"alertdialog", "toolbar", "tablist"}
)
# Boilerplate names, matched against whole class tokens and ids, or as their first or last
# hyphen-separated part ("share-bar", "article-share", "ad-slot", "top-ad"), never inside a word:
# "shared-content", "adaptive", "download" and "commentary" are article text.
_BOILERPLATE = frozenset(
    {
        *("share", "shares", "sharing", "sharebar", "social", "socials", "sociallinks"),
        *("related", "recommended", "read-more", "readmore", "more-stories", "most-read"),
        *("newsletter", "newsletters", "subscribe", "subscription", "signup"),
        *("cookie", "cookies", "cookiebar", "consent", "gdpr"),
        *("ad", "ads", "adv", "advert", "adverts", "advertisement", "advertising", "adslot", "adunit"),
        *("sponsor", "sponsored", "promo", "promoted", "outbrain", "taboola", "adsbygoogle"),
        *("comments", "commentlist", "comment-list", "comment-form", "comment-respond", "disqus"),
        *("breadcrumb", "breadcrumbs", "popup", "sidebar"),
    }
)
# Only as the whole token: as a part these name layouts or paywalled text ("layout-with-sidebar",
# "subscription-content").
_WHOLE_TOKEN_ONLY = frozenset({"sidebar", "popup", "subscription"})
_BOILERPLATE_WORDS = frozenset(n for n in _BOILERPLATE - _WHOLE_TOKEN_ONLY if "-" not in n)
_BOILERPLATE_PHRASES = tuple(n for n in _BOILERPLATE - _WHOLE_TOKEN_ONLY if "-" in n)
# Cookie-consent vendors whose ids run the vendor name into the rest ("onetrust-banner-sdk").
_VENDOR_PREFIXES = ("onetrust", "cybotcookiebot", "didomi", "usercentrics", "disqus", "taboola", "outbrain")
# Modifier classes say what a container has, not what it is: "has-ads", "no-comments", "tag-social".
_MODIFIER_PREFIXES = ("has-", "no-", "with-", "without-", "is-", "show-", "hide-", "tag-", "category-")
# Whole-page containers carry page-level classes ("single-post has-comments"): never judged by class.
_CONTAINERS = frozenset({"html", "body", "main", "article"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source"}
    | {"track", "wbr", "keygen"}
)
_PARAGRAPH = frozenset(
    {
        *("p", "div", "section", "article", "main", "header", "footer", "address", "details", "hgroup"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figure", "pre", "hr", "fieldset"),
        *("ul", "ol", "dl", "table"),
    }
)
_LINE = frozenset({"li", "dt", "dd", "tr", "caption", "figcaption", "summary", "option"})
_CELL = frozenset({"td", "th"})
# Starting one of these closes an open <p> (HTML's "close a p element"), as browsers do.
_CLOSES_P = _PARAGRAPH | {"li", "dt", "dd", "menu", "nav", "aside", "form", "figcaption"}
# How far an implied end tag may reach down the stack of open elements.
_P_SCOPE = frozenset({"html", "table", "td", "th", "caption", "template", "button", "object"})
_LI_SCOPE = _P_SCOPE | {"ul", "ol", "menu"}
_DD_SCOPE = _P_SCOPE | {"dl"}
_TR_SCOPE = frozenset({"html", "table", "thead", "tbody", "tfoot"})
_CELL_SCOPE = _TR_SCOPE | {"tr"}
_IMPLIED_END = {
    "li": ({"li"}, _LI_SCOPE),
    "dt": ({"dt", "dd"}, _DD_SCOPE),
    "dd": ({"dt", "dd"}, _DD_SCOPE),
    "tr": ({"tr", "td", "th"}, _TR_SCOPE),
    "td": ({"td", "th"}, _CELL_SCOPE),
    "th": ({"td", "th"}, _CELL_SCOPE),
    "option": ({"option"}, _P_SCOPE | {"select"}),
}
_PARAGRAPH_SPLIT = re.compile(r"[ \t\r\f\v\u00a0]*\n[ \t\r\f\v\u00a0]*\n\s*")
_WHITESPACE = re.compile(r"\s+")
_BREAKS = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[A-Za-z/!?]")


def _is_boilerplate_token(token: str) -> bool:
    token = token.lower().replace("_", "-")
    if token in _BOILERPLATE or token.startswith(_VENDOR_PREFIXES):
        return True
    if "-" not in token or token.startswith(_MODIFIER_PREFIXES):
        return False
    first, last = token.partition("-")[0], token.rpartition("-")[2]
    return (
        first in _BOILERPLATE_WORDS
        or last in _BOILERPLATE_WORDS
        or any(token.startswith(f"{n}-") or token.endswith(f"-{n}") for n in _BOILERPLATE_PHRASES)
    )


def _skips(tag: str, attrs: list[tuple[str, str | None]], stack: list[tuple[str, bool]]) -> bool:
    if tag in _SKIP_TAGS:
        return True
    # A page's own <header> is its banner (logo, menu, search); inside an article it holds the headline.
    if tag == "header" and not any(open_tag in ("article", "main") for open_tag, _ in stack):
        return True
    for name, raw in attrs:
        value = (raw or "").strip()
        # hidden="until-found" is collapsed text the reader can open: article text.
        if name == "hidden" and value.lower() != "until-found":
            return True
        if name == "aria-hidden" and value.lower() == "true":
            return True
        if name == "role" and value.lower() in _SKIP_ROLES:
            return True
        if name == "style" and _HIDDEN_STYLE.search(value):
            return True
        if (
            name in ("class", "id")
            and tag not in _CONTAINERS
            and any(_is_boilerplate_token(token) for token in value.split())
        ):
            return True
    return False


class _TextExtractor(HTMLParser):
    """Keeps a stack of open elements so that a skipped block ends exactly where its element ends,
    whatever unclosed <p>, <li> or void elements real-world HTML leaves inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, opened a skipped block)
        # Where each tag is open on the stack (ascending): hostile input (thousands of unclosed tags,
        # stray end tags) would otherwise make every lookup walk the whole stack.
        self.open: defaultdict[str, list[int]] = defaultdict(list)
        self.skipping = 0
        self.pre = 0
        self.pending = 0  # newlines owed before the next text: 1 line break, 2 paragraph break

    def _pop_to(self, index: int) -> None:
        for tag, skipped in reversed(self.stack[index:]):
            self.open[tag].pop()
            self.skipping -= skipped
            self.pre -= tag == "pre"
            self._close(tag)
        del self.stack[index:]

    def _close(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)

    def _top(self, tags: set[str] | frozenset[str]) -> int:
        """Stack index of the innermost open element among ``tags``, or -1."""
        return max((self.open[tag][-1] for tag in tags if self.open.get(tag)), default=-1)

    def _find(self, tags: set[str] | frozenset[str], scope: frozenset[str]) -> int | None:
        """The innermost open element among ``tags``, unless an element of ``scope`` is open inside it
        (found from the per-tag positions: a walk down the stack made ``<p><table>`` followed by
        thousands of ``<div>`` quadratic)."""
        index = self._top(tags)
        return index if index > self._top(scope) else None

    def _break(self, newlines: int) -> None:
        if not self.skipping:
            self.pending = max(self.pending, newlines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _CLOSES_P and (index := self._find({"p"}, _P_SCOPE)) is not None:
            self._pop_to(index)
        if tag in _IMPLIED_END:
            tags, scope = _IMPLIED_END[tag]
            if (index := self._find(tags, scope)) is not None:
                self._pop_to(index)
        if tag == "br":
            if not self.skipping:
                self.pending = min(2, self.pending + 1)  # <br><br> is a paragraph break in many feeds
            return
        if tag in _CELL and not self.pending:
            self._space()
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        if tag in _VOID:
            return
        skipped = not self.skipping and _skips(tag, attrs, self.stack)
        self.open[tag].append(len(self.stack))
        self.stack.append((tag, skipped))
        self.skipping += skipped
        self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # XHTML in feeds closes its own empty elements: <div class="ad"/> opens no block.
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.open.get(tag):
            self._pop_to(self.open[tag][-1])
            return
        # An end tag with nothing open to close is ignored, as browsers do, except that </p> and
        # </br> still break the line.
        if tag == "p":
            self._break(2)
        elif tag == "br":
            self._break(1)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            # Python before 3.13 asserts on a malformed "<![" (no section name); browsers show it as text.
            self.handle_data(self.rawdata[i : i + 3])
            return i + 3

    def _space(self) -> None:
        if self.parts and not self.skipping and not self.parts[-1].endswith(" "):
            self.parts.append(" ")

    def _emit(self, text: str) -> None:
        if self.pending and self.parts:
            self.parts.append("\n" * self.pending)
        self.pending = 0
        self.parts.append(text)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:
            for number, line in enumerate(data.split("\n")):
                if number:
                    self.pending = max(self.pending, 1)
                if line.strip():
                    self._emit(line)
            return
        # Source line wraps are spaces in HTML; a blank line is a paragraph break in feeds that
        # send text with inline tags but without <p>.
        for number, piece in enumerate(_PARAGRAPH_SPLIT.split(data)):
            if number:
                self._break(2)
            text = _WHITESPACE.sub(" ", piece)
            if text.strip():
                self._emit(text)
            elif text and not self.pending:
                self._space()


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BREAKS.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment or page; plain text passes through with whitespace tidied."""
    if not _TAG.search(markup):
        # Plain text (most titles): entities decoded, its own line breaks kept.
        return _tidy(unescape(markup) if "&" in markup else markup)
    parser = _TextExtractor()
    parser.feed(markup)
    if _TAG.match(parser.rawdata) and parser.rawdata != "</":
        # A tag, comment or declaration still open at the end of the input ("<a href=...", "x<y" in
        # a title) runs to the end and is dropped, as HTML5 says and Python 3.11.13+ / 3.12.11+ do
        # (CVE-2025-6069): older versions' close() scans the rest again for every "<" in it, which
        # is quadratic (32 KB of "x<y " took 7 s).
        parser.rawdata = ""
    parser.close()
    return _tidy("".join(parser.parts))
