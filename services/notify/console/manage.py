"""The console's pages that change things: the researcher's subscriptions (create, edit, delete, send a
test, personal feed URL) and silences (create, expire). Every change goes through the API's own
functions (``Api.add_subscription``, ``edit_subscription``, ``send_test``, ``add_silence``...), so the
rules and the messages are the API's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.common.httpapi import ApiProblem
from services.notify.channels import CHANNELS
from services.notify.console.pages import PagesBase, Visit
from services.notify.console.views import Form, one, placed, silence_body, subscription_body
from services.notify.core.model import Subscription
from services.notify.routes.views import public_view, silence_view


class ManagePages(PagesBase):
    def _channel_types(self, visit: Visit) -> list[str]:
        return [c.name for c in CHANNELS if c.owners or visit.caller.admin]

    async def _subscriptions_page(
        self,
        visit: Visit,
        status: int = 200,
        *,
        notice: str | None = None,
        problems: dict[str, list[str]] | None = None,
        form: Form | None = None,
        new_feed: tuple[str, str] | None = None,
    ) -> Response:
        owner = None if visit.caller.admin else visit.caller.owner
        subs = await self.store.subscriptions.all(owner)
        feeds = {f.subscription_id for f in await self.store.feeds.of_owner(visit.caller.owner)}
        return self.render(
            "subscriptions.html",
            visit,
            status,
            subscriptions=[(s, public_view(s)) for s in subs],
            feeds=feeds,
            notice=notice,
            problems=problems or {},
            form=form or {},
            channel_pairs=[(t, t) for t in self._channel_types(visit)],
            new_feed=new_feed,
        )

    async def subscriptions(self, request: Request, visit: Visit) -> Response:
        return await self._subscriptions_page(visit)

    async def create_subscription(self, request: Request, visit: Visit) -> Response:
        form = await self.form(request, visit)
        try:
            sub = await self.api.add_subscription(visit.caller, subscription_body(form, editing=False))
        except ApiProblem as exc:
            return await self._subscriptions_page(visit, 422, problems=_problems(exc), form=form)
        return await self._subscriptions_page(visit, 201, notice=f"Subscription “{sub.name}” created.")

    async def _own(self, visit: Visit, subscription_id: str) -> Subscription | None:
        try:
            return await self.api._own_subscription(visit.caller, subscription_id)
        except ApiProblem:
            return None

    async def edit_subscription(self, request: Request, visit: Visit) -> Response:
        sub = await self._own(visit, request.path_params["id"])
        if sub is None:
            return self.missing(visit, "subscription of yours with this id")
        problems: dict[str, list[str]] = {}
        form: Form = _form_of(sub)
        if request.method == "POST":
            form = await self.form(request, visit)
            try:
                body = subscription_body(form, editing=True)
                await self.api.edit_subscription(visit.caller, sub.id, body, replace=False)
            except ApiProblem as exc:
                problems = _problems(exc)
            else:
                return await self._subscriptions_page(
                    visit, notice=f"Subscription “{one(form, 'name')}” saved."
                )
        return self.render(
            "subscription_edit.html",
            visit,
            422 if problems else 200,
            sub=sub,
            view=public_view(sub),
            form=form,
            problems=problems,
            channel_pairs=[(t, t) for t in self._channel_types(visit)],
        )

    async def delete_subscription(self, request: Request, visit: Visit) -> Response:
        sub = await self._own(visit, request.path_params["id"])
        if sub is None:
            return self.missing(visit, "subscription of yours with this id")
        if request.method == "GET":
            return self.render("subscription_delete.html", visit, sub=sub)
        await self.form(request, visit)
        await self.api.remove_subscription(visit.caller, sub.id)
        await self.store.feeds.revoke(sub.id)
        return await self._subscriptions_page(visit, notice=f"Subscription “{sub.name}” deleted.")

    async def test_subscription(self, request: Request, visit: Visit) -> Response:
        await self.form(request, visit)
        sub = await self._own(visit, request.path_params["id"])
        if sub is None:
            return self.missing(visit, "subscription of yours with this id")
        try:
            await self.api.send_test(visit.caller, sub.id)
        except ApiProblem as exc:
            return await self._subscriptions_page(
                visit, exc.status, notice=f"The test message to “{sub.name}” was not delivered: {exc.detail}"
            )
        return await self._subscriptions_page(visit, notice=f"A test message was sent to “{sub.name}”.")

    async def feed(self, request: Request, visit: Visit) -> Response:
        form = await self.form(request, visit)
        sub = await self._own(visit, request.path_params["id"])
        if sub is None:
            return self.missing(visit, "subscription of yours with this id")
        if one(form, "action") == "revoke":
            await self.store.feeds.revoke(sub.id)
            return await self._subscriptions_page(
                visit, notice=f"The feed address of “{sub.name}” was revoked: it no longer works."
            )
        secret = await self.store.feeds.create(sub.id, sub.owner, self.api.clock())
        url = f"{self.api.base_url(request)}/feeds/{secret}.atom"
        return await self._subscriptions_page(visit, new_feed=(sub.id, url))

    # --- silences ----------------------------------------------------------------------------------

    async def _silences_page(
        self,
        visit: Visit,
        status: int = 200,
        *,
        notice: str | None = None,
        problems: dict[str, list[str]] | None = None,
        form: Form | None = None,
    ) -> Response:
        now = self.api.clock()
        owner = None if visit.caller.admin else visit.caller.owner
        silences = await self.store.silences.all(owner=owner, now=now)
        subs = await self.store.subscriptions.all(owner)
        return self.render(
            "silences.html",
            visit,
            status,
            silences=[(s, silence_view(s, now)) for s in silences],
            subscriptions=subs,
            notice=notice,
            problems=problems or {},
            form=form or {},
        )

    async def silences(self, request: Request, visit: Visit) -> Response:
        return await self._silences_page(visit)

    async def create_silence(self, request: Request, visit: Visit) -> Response:
        form = await self.form(request, visit)
        try:
            await self.api.add_silence(visit.caller, silence_body(form))
        except ApiProblem as exc:
            return await self._silences_page(visit, 422, problems=_problems(exc), form=form)
        return await self._silences_page(visit, 201, notice="Silence created.")

    async def expire_silence(self, request: Request, visit: Visit) -> Response:
        await self.form(request, visit)
        try:
            await self.api.end_silence(visit.caller, request.path_params["id"])
        except ApiProblem:
            return self.missing(visit, "silence of yours with this id")
        return await self._silences_page(visit, notice="Silence expired.")


def _problems(exc: ApiProblem) -> dict[str, list[str]]:
    details: Any = exc.extensions.get("errors")
    if isinstance(details, list) and details:
        return placed(details)
    return {"form": [exc.detail]}


def _form_of(sub: Subscription) -> dict[str, list[str]]:
    """A stored subscription as its edit form's values (never a secret)."""
    f = sub.filters
    to = getattr(sub.channel, "to", None)
    return {
        "name": [sub.name],
        "channel_type": [sub.channel.type],
        "channel_to": [", ".join(to)] if isinstance(to, list) else [],
        "technologies": list(f.technologies),
        "destinations": list(f.destinations),
        "vendors": list(f.entities),
        "event_types": list(f.event_types),
        "min_severity": [f.min_severity.value],
        "keyword": [f.keyword or ""],
        "mode": [sub.mode.value],
    }
