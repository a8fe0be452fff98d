"""The console's plumbing and its reading pages: sign-in and sign-out, the alert list with its filters,
counts and weekly chart, and one alert with its evidence, licence, story, audit and feedback form."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

import services.notify.console.security as sec
from schemas.vocabulary import describe_control_code
from services.common.httpapi import ApiProblem
from services.notify.api import Api
from services.notify.console.views import (
    CHART_HEIGHT,
    CHART_WIDTH,
    Form,
    bars,
    field_label,
    one,
    passages,
    query_params,
)
from services.notify.core.archive import QueryProblems, parse_query, query_string
from services.notify.core.feedback import NOT_RELEVANT, REASONS, RELEVANT, check
from services.notify.core.model import ADMIN_OWNER, is_reserved_owner
from services.notify.core.render import safe_link
from services.notify.core.vocabulary import Vocabulary
from services.notify.routes.base import Caller
from services.notify.store.sessions import Session

log = logging.getLogger("exportwatch.notify.console")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ConsoleOptions:
    session_hours: float = 12.0
    trust_forwarded_proto: bool = False
    signin_attempts_per_minute: int = 10


@dataclass(frozen=True)
class Visit:
    """A signed-in request: who, and the form token to put in the page's forms."""

    caller: Caller
    csrf: str
    session: Session


Handler = Callable[[Request, Visit], Awaitable[Response]]


class Forbidden(Exception):
    """A form without the session's token."""


class PagesBase:
    def __init__(self, api: Api, vocabulary: Vocabulary, options: ConsoleOptions) -> None:
        self.api = api
        self.store = api.store
        self.vocabulary = vocabulary
        self.options = options
        self.throttle = sec.Throttle(options.signin_attempts_per_minute)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
        )

    # --- answering ---------------------------------------------------------------------------------

    def render(self, name: str, visit: Visit | None, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(
            visit=visit,
            csrf=visit.csrf if visit else "",
            vocabulary=self.vocabulary,
            reasons=REASONS,
            describe_code=describe_control_code,
            web_link=safe_link,
            field_label=field_label,
            not_relevant=NOT_RELEVANT,
            relevant=RELEVANT,
            **context,
        )
        return sec.secure_headers(HTMLResponse(html, status_code=status), private=visit is not None)

    def refused(self, visit: Visit | None) -> HTMLResponse:
        return self.render(
            "message.html",
            visit,
            403,
            title="This form was refused",
            message="The form did not carry this page's security token, so nothing was changed. This "
            "happens when a form comes from another site or an old page. Go back, reload the page and "
            "try again.",
        )

    def missing(self, visit: Visit | None, what: str) -> HTMLResponse:
        return self.render("message.html", visit, 404, title="Not found", message=f"There is no {what} here.")

    def problem(self, visit: Visit, exc: ApiProblem) -> HTMLResponse:
        return self.render("message.html", visit, exc.status, title="That did not work", message=exc.detail)

    async def _visit(self, request: Request) -> Visit | None:
        cookie = request.cookies.get(sec.SESSION_COOKIE)
        if not cookie:
            return None
        session = await self.store.sessions.find(cookie, self.api.clock())
        if session is None:
            return None
        return Visit(Caller(session.owner, session.admin), request.cookies.get(sec.CSRF_COOKIE, ""), session)

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in page: others are sent to the sign-in form; a POST must carry the form token."""

        async def endpoint(request: Request) -> Response:
            visit = await self._visit(request)
            if visit is None:
                if request.method == "POST":
                    return self.refused(None)
                target = urlencode({"next": request.url.path})
                return sec.secure_headers(RedirectResponse(f"/signin?{target}", 303), private=True)
            try:
                return await handler(request, visit)
            except Forbidden:
                return self.refused(visit)
            except ApiProblem as exc:
                return self.problem(visit, exc)
            except sec.FormTooLarge:
                return self.render(
                    "message.html", visit, 413, title="Too large", message="That form is too large."
                )
            except Exception as exc:
                # A bug, not the researcher's doing: a page in words, never a traceback. Only the type is
                # logged: the text of an error may hold a subscriber's URL.
                log.error(
                    "console page failed", extra={"path": request.url.path, "error": type(exc).__name__}
                )
                return self.render(
                    "message.html",
                    visit,
                    500,
                    title="Something went wrong",
                    message="The console could not show this page. Try again in a moment; if it keeps "
                    "happening, tell the people who run ExportWatch.",
                )

        return endpoint

    async def form(self, request: Request, visit: Visit) -> Form:
        """The posted form, once its token was checked (Forbidden otherwise)."""
        form = await sec.read_form(request)
        if not sec.same_token(one(form, sec.CSRF_FIELD), visit.session.csrf_hash):
            log.info("console form refused: no valid form token", extra={"owner": visit.caller.owner})
            raise Forbidden
        return form

    # --- signing in and out ------------------------------------------------------------------------

    def _signin_page(self, request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        token = request.cookies.get(sec.SIGNIN_COOKIE) or secrets.token_urlsafe(24)
        next_path = request.query_params.get("next", "/")
        response = self.render(
            "signin.html", None, status, signin_token=token, error=error, next=_local(next_path)
        )
        response.headers["cache-control"] = "no-store"
        secure = sec.over_tls(request, self.options.trust_forwarded_proto)
        sec.set_cookie(response, sec.SIGNIN_COOKIE, token, secure=secure, max_age=3600)
        return response

    async def signin_form(self, request: Request) -> Response:
        return self._signin_page(request)

    async def signin(self, request: Request) -> Response:
        try:
            form = await sec.read_form(request)
        except sec.FormTooLarge:
            return self._signin_page(request, 413, "That form is too large.")
        if not sec.same_value(one(form, sec.CSRF_FIELD), request.cookies.get(sec.SIGNIN_COOKIE)):
            return self.refused(None)
        address = request.client.host if request.client else "unknown"
        if self.throttle.blocked(address):
            return self._signin_page(
                request, 429, "Too many wrong tokens from your address. Wait a minute, then try again."
            )
        caller = await self._token_caller(one(form, "token"))
        if caller is None:
            self.throttle.failed(address)
            return self._signin_page(
                request, 401, "That token was not accepted. Check that you copied the whole token."
            )
        now = self.api.clock()
        lifetime = dt.timedelta(hours=self.options.session_hours)
        made = await self.store.sessions.create(caller.owner, caller.admin, now, lifetime)
        log.info("console sign-in", extra={"owner": caller.owner})
        response = RedirectResponse(_local(one(form, "next") or "/"), 303)
        secure = sec.over_tls(request, self.options.trust_forwarded_proto)
        max_age = int(lifetime.total_seconds())
        sec.set_cookie(response, sec.SESSION_COOKIE, made.cookie, secure=secure, max_age=max_age)
        sec.set_cookie(response, sec.CSRF_COOKIE, made.csrf, secure=secure, max_age=max_age)
        response.delete_cookie(sec.SIGNIN_COOKIE, path="/")
        return sec.secure_headers(response, private=True)

    async def _token_caller(self, token: str) -> Caller | None:
        """Who an API token stands for: the API's own rule (``ApiBase._caller``), without its HTTP."""
        if not token:
            return None
        admin = self.api.admin_token
        if admin and sec.same_value(token, admin):
            return Caller(ADMIN_OWNER, True)
        found = await self.store.tokens.owner_of(token)
        if found is None or (is_reserved_owner(found[0]) and not found[1]):
            return None
        return Caller(found[0], found[1])

    async def signout(self, request: Request, visit: Visit) -> Response:
        await self.form(request, visit)
        cookie = request.cookies.get(sec.SESSION_COOKIE, "")
        await self.store.sessions.end(cookie)
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(sec.SESSION_COOKIE, path="/")
        response.delete_cookie(sec.CSRF_COOKIE, path="/")
        return sec.secure_headers(response, private=True)

    # --- reading alerts ----------------------------------------------------------------------------

    async def alerts(self, request: Request, visit: Visit) -> Response:
        params = query_params(request.query_params.multi_items())
        problems: dict[str, list[str]] = {}
        page = facets = None
        links: dict[str, str] = {}
        try:
            query = parse_query(params, self.vocabulary)
        except QueryProblems as exc:
            for d in exc.details:
                problems.setdefault(d["location"], []).append(d["message"])
        else:
            page = await self.store.archive.search(query)
            facets = await self.store.archive.facets(query)
            again = urlencode(query_string(query))
            links = {"csv": f"/alerts.csv?{again}", "atom": f"/alerts.atom?{again}"}
            if page.next_cursor:
                links["older"] = "/?" + urlencode(query_string(query, cursor=page.next_cursor))
        chart = bars(facets.weeks) if facets else []
        return self.render(
            "alerts.html",
            visit,
            400 if problems else 200,
            params=params,
            problems=problems,
            page=page,
            facets=facets,
            links=links,
            chart=chart,
            chart_width=CHART_WIDTH,
            chart_height=CHART_HEIGHT,
        )

    async def export(self, request: Request, visit: Visit) -> Response:
        """The list's query as CSV or Atom for a signed-in browser: the API's own exports
        (``/v1/alerts.csv``, ``/v1/alerts.atom``), answered for the session's caller."""
        csv = request.url.path.endswith(".csv")
        handler = self.api.alerts_csv if csv else self.api.alerts_atom
        return sec.secure_headers(await handler(request, visit.caller), private=True)

    async def alert(self, request: Request, visit: Visit) -> Response:
        alert_id = request.path_params["id"]
        archived = await self.store.archive.get(alert_id) if len(alert_id) <= 300 else None
        if archived is None:
            return self.missing(visit, "alert with this id")
        notice = None
        if request.method == "POST":
            notice = await self._feedback(request, visit, archived.alert)
        caller = visit.caller
        audit = await self.store.archive.audit(alert_id, None if caller.admin else caller.owner)
        feedback = await self.store.feedback.get(alert_id, caller.owner)
        return self.render(
            "alert.html",
            visit,
            archived=archived,
            alert=archived.alert,
            evidence=passages(archived.alert.evidence),
            audit=audit,
            feedback=feedback,
            notice=notice,
        )

    async def _feedback(self, request: Request, visit: Visit, alert: Any) -> str:
        """Record, replace or withdraw the researcher's judgement, with the API's checks (``check``)
        and its metric refresh (``Api._changed``)."""
        form = await self.form(request, visit)
        owner, now = visit.caller.owner, self.api.clock()
        if one(form, "action") == "delete":
            await self.store.feedback.delete(alert.id, owner)
            await self.api._changed()
            return "Your feedback on this alert was removed."
        verdict = one(form, "verdict")
        if verdict not in ("relevant", "not_relevant"):
            return "Choose whether the alert was relevant or not, then save again."
        relevant = verdict == "relevant"
        reason, note = one(form, "reason") or None, one(form, "note") or None
        problems = check(relevant, reason, note)
        if problems:
            return "Nothing was saved: " + "; ".join(message for _, message in problems)
        await self.store.feedback.put(alert, owner, relevant, reason, note, now)
        await self.api._changed()
        return "Thank you: your feedback was saved."


def _local(path: str) -> str:
    """Only a path on this site (never //elsewhere or a full URL): where to go after signing in."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
