"""Generic JSON webhook: one POST of the alert per delivery. The URL is a secret: it is never logged."""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit

import httpx

from schemas import Alert
from services.notify.channels.base import DeliveryError, Reason
from services.notify.core.targets import forbidden_address

USER_AGENT = "ExportWatch-Webhook/1"

# httpx and httpcore log every request URL at INFO/DEBUG; webhook URLs carry secrets, so they stay quiet
# whatever level the root logger is set to.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(response: httpx.Response) -> DeliveryError | None:
    """None for success; otherwise the error with its reason (which decides retrying)."""
    code = response.status_code
    if 200 <= code < 300:
        return None
    if code == 429:
        return DeliveryError(Reason.RATE_LIMITED, "HTTP 429", _retry_after(response))
    if code >= 500:
        return DeliveryError(Reason.SERVER_ERROR, f"HTTP {code}", _retry_after(response))
    if code in (401, 403):
        return DeliveryError(Reason.AUTH_ERROR, f"HTTP {code}")
    if 300 <= code < 400:
        return DeliveryError(Reason.CLIENT_ERROR, f"HTTP {code}: redirects are not followed")
    return DeliveryError(Reason.CLIENT_ERROR, f"HTTP {code}")


class WebhookChannel:
    def __init__(self, name: str, url: str, *, timeout: float = 10.0, allow_private: bool = False) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}: webhook URL must be http(s)://host/...")
        self.name = name
        self._url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._allow_private = allow_private
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"user-agent": USER_AGENT}
        )

    async def _check_target(self) -> None:
        if self._allow_private:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise DeliveryError(Reason.NETWORK, f"cannot resolve the webhook host: {exc.strerror}") from None
        for *_, sockaddr in infos:
            why = forbidden_address(str(sockaddr[0]))
            if why:
                raise DeliveryError(Reason.FORBIDDEN_TARGET, f"webhook host resolves to a {why} address")

    async def send(self, alert: Alert) -> None:
        await self._check_target()
        try:
            response = await self._client.post(
                self._url,
                content=alert.model_dump_json().encode("utf-8"),
                headers={
                    "content-type": "application/json",
                    "x-exportwatch-alert-id": alert.id,
                    "idempotency-key": alert.id,
                },
            )
        except httpx.TimeoutException:
            raise DeliveryError(Reason.TIMEOUT, "no answer in time") from None
        except httpx.TransportError as exc:
            raise DeliveryError(Reason.NETWORK, type(exc).__name__) from None
        error = classify(response)
        if error is not None:
            raise error

    async def close(self) -> None:
        await self._client.aclose()
