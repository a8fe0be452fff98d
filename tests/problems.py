"""Reading the APIs' problem details (RFC 9457) in tests."""

from __future__ import annotations

from typing import Any

import httpx

from services.common.httpapi import PROBLEM_JSON, TYPE_PREFIX


def lines(answer: dict[str, Any]) -> list[str]:
    """A problem's per-field ``errors`` as ``location: message`` lines."""
    return [f"{e['location']}: {e['message']}" for e in answer.get("errors", [])]


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The body of ``response``, checked to be a problem of ``status`` and ``kind``."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPE_PREFIX + kind and body["status"] == status, body
    assert isinstance(body["title"], str) and isinstance(body["detail"], str) and body["detail"], body
    return body
