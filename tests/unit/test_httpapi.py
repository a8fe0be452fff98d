"""The APIs' shared toolkit on its own, through Starlette's test client: bearer tokens, the body limit,
content types, JSON and validation, and the problem details every refusal is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from services.common import httpapi
from services.common.httpapi import PROBLEM_JSON, TYPE_PREFIX, ApiProblem

SECRET = "a-secret-token"
LIMIT = 100


class Thing(BaseModel):
    name: str
    count: int


async def endpoint(request: Request) -> Response:
    try:
        if not httpapi.matches_any(httpapi.bearer_token(request), [SECRET, "another-token"]):
            raise httpapi.invalid_token()
        body = await httpapi.read_object(request, LIMIT)
        try:
            thing = Thing.model_validate(body)
        except ValidationError as exc:
            raise httpapi.invalid_body("invalid thing", httpapi.field_errors(exc)) from None
    except ApiProblem as problem:
        return problem.response(request)
    return JSONResponse(thing.model_dump())


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=[Route("/things", endpoint, methods=["POST"])])) as c:
        yield c


AUTH = {"authorization": f"Bearer {SECRET}"}


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPE_PREFIX + kind
    assert body["status"] == status and body["title"] == httpapi.TITLES[kind]
    assert body["instance"] == "/things"
    return body


def test_a_valid_request_passes(client: TestClient) -> None:
    response = client.post("/things", json={"name": "a", "count": 1}, headers=AUTH)
    assert response.status_code == 200 and response.json() == {"name": "a", "count": 1}
    lower = client.post(
        "/things", json={"name": "a", "count": 1}, headers={"authorization": f"bearer  {SECRET}"}
    )
    assert lower.status_code == 200


@pytest.mark.parametrize("header", [None, "", "Basic abc", SECRET, "Bearer", "Bearer   "])
def test_missing_or_malformed_credentials_are_401_with_the_scheme(
    client: TestClient, header: str | None
) -> None:
    headers = {} if header is None else {"authorization": header}
    response = client.post("/things", json={}, headers=headers)
    assert "Bearer <token>" in problem(response, 401, "missing-credentials")["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["wrong", SECRET + "x", SECRET[:-1], "é" * 20])
def test_an_unknown_token_is_401_invalid_token(client: TestClient, token: str) -> None:
    header = f"Bearer {token}".encode()  # as sent: a client may send any bytes
    response = client.post("/things", json={}, headers={b"authorization": header})
    assert problem(response, 401, "invalid-token")["detail"] == "unknown or revoked token"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_matches_any_compares_with_every_secret() -> None:
    assert httpapi.matches_any("b", ["a", "b", "c"])
    assert not httpapi.matches_any("d", ["a", "b", "c"])
    assert not httpapi.matches_any("a", [])
    assert httpapi.same_secret("é", "é") and not httpapi.same_secret("é", "e")


def test_a_body_over_the_limit_is_413_declared_or_streamed(client: TestClient) -> None:
    big = b'{"name": "' + b"x" * LIMIT + b'", "count": 1}'
    declared = client.post("/things", content=big, headers=AUTH)
    assert problem(declared, 413, "body-too-large") | {"instance": "/things"} == {
        "type": TYPE_PREFIX + "body-too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": f"request body over {LIMIT} bytes",
        "instance": "/things",
        "limit": LIMIT,
    }

    def chunks() -> Iterator[bytes]:
        yield from (b"x" * 30 for _ in range(100))

    streamed = client.post("/things", content=chunks(), headers=AUTH)
    problem(streamed, 413, "body-too-large")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/xml",
        "image/png",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "nonsense;;=",
    ],
)
def test_a_content_type_that_is_not_json_is_415(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/things", content=b'{"name": "a", "count": 1}', headers={**AUTH, "content-type": content_type}
    )
    problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=UTF-8",
        "application/cloudevents+json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ],
)
def test_json_content_types_and_curls_default_pass(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/things", content=b'{"name": "a", "count": 1}', headers={**AUTH, "content-type": content_type}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"', b"[" * 90, b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(client: TestClient, body: bytes) -> None:
    problem(client.post("/things", content=body, headers=AUTH), 400, "invalid-json")


def test_json_the_model_refuses_is_422_with_every_field(client: TestClient) -> None:
    response = client.post("/things", json={"count": "many"}, headers=AUTH)
    answer = problem(response, 422, "invalid-body")
    assert answer["detail"] == "invalid thing"
    assert [e["location"] for e in answer["errors"]] == ["name", "count"]
    assert all(isinstance(e["message"], str) and e["message"] for e in answer["errors"])
    assert "many" not in response.text  # values are not shown back: they may be secrets


def test_nesting_deeper_than_the_recursion_limit_is_invalid_json() -> None:
    with pytest.raises(ApiProblem) as refused:
        httpapi.decode_object(b"[" * 5000)
    assert (refused.value.status, refused.value.kind) == (400, "invalid-json")


def test_an_empty_body_may_stand_for_an_empty_object() -> None:
    assert httpapi.decode_object(b"", empty={}) == {}
    assert httpapi.decode_object(b"  \n", empty={"a": 1}) == {"a": 1}
    with pytest.raises(ApiProblem) as refused:
        httpapi.decode_object(b"")
    assert refused.value.status == 400


def test_errors_beyond_the_listed_ones_are_counted() -> None:
    errors = [{"location": f"x[{i}]", "message": "bad"} for i in range(httpapi.MAX_ERRORS + 7)]
    body = httpapi.invalid_body("invalid", errors).body()
    assert len(body["errors"]) == httpapi.MAX_ERRORS and body["more_errors"] == 7
    assert "instance" not in body


@pytest.mark.parametrize(("status", "kind"), [(429, "rate-limited"), (503, "unavailable")])
def test_try_later_carries_retry_after_in_the_header_and_the_body(status: int, kind: str) -> None:
    response = httpapi.try_later(status, "busy", 7).response()
    assert response.status_code == status and response.headers["retry-after"] == "7"
    assert response.media_type == PROBLEM_JSON
    refused = httpapi.try_later(status, "busy", 7)
    assert refused.body() == {
        "type": TYPE_PREFIX + kind,
        "title": httpapi.TITLES[kind],
        "status": status,
        "detail": "busy; try again in 7 s",
        "retry_after_seconds": 7,
    }


def test_each_situation_has_its_status() -> None:
    assert [
        (p.status, p.kind)
        for p in (
            httpapi.missing_credentials(),
            httpapi.invalid_token(),
            httpapi.forbidden("no"),
            httpapi.not_found("no"),
            httpapi.conflict("no"),
            httpapi.too_large(1),
            httpapi.invalid_json(),
            httpapi.invalid_body("no"),
            httpapi.internal_error(),
        )
    ] == [
        (401, "missing-credentials"),
        (401, "invalid-token"),
        (403, "forbidden"),
        (404, "not-found"),
        (409, "conflict"),
        (413, "body-too-large"),
        (400, "invalid-json"),
        (422, "invalid-body"),
        (500, "internal"),
    ]
    assert all(kind in httpapi.TITLES for kind in ("method-not-allowed", "delivery-failed"))


def test_printable_cuts_and_escapes() -> None:
    assert httpapi.printable("a" * 300) == "a" * 200
    assert httpapi.printable("\ud800x") == "\\ud800x"
    assert httpapi.printable(5) == 5
