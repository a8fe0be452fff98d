"""The console's routes: which page answers which path (``services/notify/app.py`` mounts them)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.notify.console.manage import ManagePages
from services.notify.console.pages import HERE, ConsoleOptions
from services.notify.console.security import secure_headers

__all__ = ["Console", "ConsoleOptions"]


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: dict) -> Response:  # type: ignore[override,type-arg]
        return secure_headers(await super().get_response(path, scope), private=False)


class Console(ManagePages):
    """The console's routes; ``services/notify/app.py`` mounts them beside the API's."""

    def routes(self) -> list[BaseRoute]:
        p = self.page
        return [
            Route("/signin", self.signin_form, methods=["GET"]),
            Route("/signin", self.signin, methods=["POST"]),
            Route("/signout", p(self.signout), methods=["POST"]),
            Route("/", p(self.alerts), methods=["GET"]),
            Route("/alerts.csv", p(self.export), methods=["GET"]),
            Route("/alerts.atom", p(self.export), methods=["GET"]),
            Route("/alerts/{id:path}", p(self.alert), methods=["GET", "POST"]),
            Route("/subscriptions", p(self.subscriptions), methods=["GET"]),
            Route("/subscriptions", p(self.create_subscription), methods=["POST"]),
            Route("/subscriptions/{id}/edit", p(self.edit_subscription), methods=["GET", "POST"]),
            Route("/subscriptions/{id}/delete", p(self.delete_subscription), methods=["GET", "POST"]),
            Route("/subscriptions/{id}/test", p(self.test_subscription), methods=["POST"]),
            Route("/subscriptions/{id}/feed", p(self.feed), methods=["POST"]),
            Route("/silences", p(self.silences), methods=["GET"]),
            Route("/silences", p(self.create_silence), methods=["POST"]),
            Route("/silences/{id}/expire", p(self.expire_silence), methods=["POST"]),
            Mount("/static", app=_Static(directory=HERE / "static"), name="static"),
        ]
