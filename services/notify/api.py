"""The subscriptions API: ``/v1/subscriptions``, ``/v1/silences``, ``/v1/dead``, ``/v1/tokens`` and
``/v1/alerts``, behind bearer tokens; the routes of each resource are in ``services/notify/routes/``,
refusals are problem details (``services/common/httpapi.py``).

Each token belongs to an owner, who sees and changes only their own subscriptions and silences; the
admin token (``EXPORTWATCH_NOTIFY_ADMIN_TOKEN``) sees everything. Someone else's subscription answers
404, exactly like a missing one; so that creating cannot probe ids either, an id chosen on creation
starts with the owner's name and "-". The admin acts as the owner "admin", which no token may be given.
Secrets (webhook URLs, signing keys) are accepted but never shown
back: responses show ``(hidden)`` in their place.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from services.common import httpapi
from services.common.addresses import TargetPolicy
from services.common.httpapi import ApiProblem
from services.notify.channels.base import utcnow
from services.notify.core.model import DEFAULT_MAX_RECIPIENTS, known_ids
from services.notify.core.ratelimit import Pace
from services.notify.core.vocabulary import Vocabulary
from services.notify.dispatcher import Dispatcher
from services.notify.routes.alerts import AlertRoutes
from services.notify.routes.base import HIDDEN, MAX_BODY, Caller
from services.notify.routes.deliveries import DeliveryRoutes, test_alert
from services.notify.routes.exports import ExportRoutes
from services.notify.routes.feedback import FeedbackRoutes
from services.notify.routes.silences import SilenceRoutes
from services.notify.routes.subscriptions import SubscriptionRoutes
from services.notify.routes.tokens import TokenRoutes
from services.notify.routes.views import public_view
from services.notify.store.repository import NotifyStore

__all__ = ["HIDDEN", "MAX_BODY", "Api", "Caller", "public_view", "test_alert"]

log = logging.getLogger("exportwatch.notify.api")
SHARED = Vocabulary.shared()
TEST_SENDS_BURST = 3  # test sends an owner may ask for back to back, within the hourly rate


class Api(
    SubscriptionRoutes, SilenceRoutes, DeliveryRoutes, TokenRoutes, AlertRoutes, FeedbackRoutes, ExportRoutes
):
    def __init__(
        self,
        store: NotifyStore,
        dispatcher: Dispatcher,
        admin_token: SecretStr | None,
        clock: Callable[[], dt.datetime] = utcnow,
        vocabulary: Vocabulary = SHARED,
        test_sends_per_hour: int = 30,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        *,
        targets: TargetPolicy,
        public_url: str | None = None,
    ) -> None:
        self.store = store
        self.public_url = public_url
        self.dispatcher = dispatcher
        self.targets = targets  # where subscription URLs may point (the channels' own policy)
        self.admin_token = admin_token.get_secret_value() if admin_token else None
        self.clock = clock
        self.known_ids = known_ids(vocabulary, max_recipients)  # ids filters may name
        self.vocabulary = vocabulary  # ids the archive's query filters may name
        # Test sends go out at once to recipients the owner chose: paced per owner, refused beyond. The
        # pace is kept in the database, shared by every replica (SendPacingStore.reserve).
        self.test_sends_per_hour = test_sends_per_hour
        self.test_sends = Pace(test_sends_per_hour / 3600.0, burst=min(TEST_SENDS_BURST, test_sends_per_hour))
        self._routes: list[BaseRoute] = []

    def route(
        self, handler: Callable[[Request, Caller], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                caller = await self._caller(request)
                return await handler(request, caller)
            except ApiProblem as problem:
                return problem.response(request)
            except Exception as exc:
                # A bug, not the caller's doing: answered in the API's format, never as a plain-text
                # traceback. Only the exception's type is logged: its text may hold a subscriber's URL.
                log.error(
                    "unexpected error answering a request",
                    extra={"method": request.method, "route": handler.__name__, "error": type(exc).__name__},
                )
                return httpapi.internal_error().response(request)

        return endpoint

    async def no_route(self, request: Request) -> Response:
        """Anything else under /v1/: a 405 (with Allow) for a known path, a 404 otherwise."""
        allowed: set[str] = set()
        for route in self._routes:
            if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
                allowed |= route.methods or set()
        if allowed:
            problem = ApiProblem(
                405,
                "method-not-allowed",
                f"method {request.method} not allowed here",
                headers={"allow": ", ".join(sorted(allowed))},
            )
            return problem.response(request)
        return httpapi.not_found("no such endpoint").response(request)

    def routes(self) -> list[BaseRoute]:
        self._routes = self._own_routes()
        catch_all = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        # The personal feeds are outside /v1: their secret URL is the key, no bearer token.
        feeds = Route("/feeds/{secret}.atom", self.personal_feed, methods=["GET"])
        return [*self._routes, Route("/v1/{rest:path}", self.no_route, methods=catch_all), feeds]

    def _own_routes(self) -> list[BaseRoute]:
        r = self.route
        return [
            Route("/v1/subscriptions", r(self.list_subscriptions), methods=["GET"]),
            Route("/v1/subscriptions", r(self.create_subscription), methods=["POST"]),
            Route("/v1/subscriptions/{id}", r(self.get_subscription), methods=["GET"]),
            Route("/v1/subscriptions/{id}", r(self.change_subscription), methods=["PUT", "PATCH"]),
            Route("/v1/subscriptions/{id}", r(self.delete_subscription), methods=["DELETE"]),
            Route("/v1/subscriptions/{id}/test", r(self.test_subscription), methods=["POST"]),
            Route("/v1/silences", r(self.list_silences), methods=["GET"]),
            Route("/v1/silences", r(self.create_silence), methods=["POST"]),
            Route("/v1/silences/{id}", r(self.expire_silence), methods=["DELETE"]),
            Route("/v1/dead", r(self.list_dead), methods=["GET"]),
            Route("/v1/tokens", r(self.create_token), methods=["POST"]),
            Route("/v1/alerts.csv", r(self.alerts_csv), methods=["GET"]),
            Route("/v1/alerts.atom", r(self.alerts_atom), methods=["GET"]),
            Route("/v1/subscriptions/{id}/feed", r(self.create_feed), methods=["POST"]),
            Route("/v1/subscriptions/{id}/feed", r(self.revoke_feed), methods=["DELETE"]),
            Route("/v1/alerts", r(self.list_alerts), methods=["GET"]),
            Route("/v1/alerts/{id}", r(self.get_alert), methods=["GET"]),
            Route("/v1/alerts/{id:path}/feedback", r(self.put_feedback), methods=["PUT"]),
            Route("/v1/alerts/{id:path}/feedback", r(self.get_feedback), methods=["GET"]),
            Route("/v1/alerts/{id:path}/feedback", r(self.delete_feedback), methods=["DELETE"]),
            Route("/v1/feedback", r(self.list_feedback), methods=["GET"]),
        ]
