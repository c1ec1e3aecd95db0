import json
import time

import jwt
import pytest
from eventsourcing.persistence import OperationalError
from nameko.exceptions import RemoteError, UnknownService

from services.gateway.auth import LoginThrottle, Tokens, TooManyAttempts, Unauthorized
from services.gateway.errors import BadRequest, ServiceUnavailable, problem_for
from services.gateway.openapi import OPENAPI
from shared import errors
from shared.validation import field_paths

SECRET = "s" * 64


class FakeUser:  # a value object with the fields Tokens reads
    username, role = "cw1", "caseworker"


def test_a_token_names_its_user_until_it_expires():
    tokens = Tokens(SECRET, 60)
    assert tokens.username(tokens.issue(FakeUser())) == "cw1"
    expired = jwt.encode({"sub": "cw1", "exp": int(time.time()) - 1}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        tokens.username(expired)
    with pytest.raises(Unauthorized):
        tokens.username(jwt.encode({"sub": "cw1", "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256"))
    with pytest.raises(Unauthorized):
        tokens.username(jwt.encode({"sub": "cw1", "exp": int(time.time()) + 60}, SECRET, algorithm="HS512"))


def test_a_short_jwt_secret_is_refused():
    with pytest.raises(RuntimeError):
        Tokens("short", 60)


def test_login_throttle_refuses_after_the_limit_and_forgets_on_success():
    throttle = LoginThrottle(limit=3, window=60)
    for _ in range(3):
        throttle.check("cw1")
        throttle.failed("cw1")
    with pytest.raises(TooManyAttempts):
        throttle.check("cw1")
    throttle.check("cw2")
    throttle.succeeded("cw1")
    throttle.check("cw1")


@pytest.mark.parametrize("error, status", [
    (BadRequest("x"), 400), (Unauthorized("x"), 401), (errors.Forbidden("x"), 403), (errors.NotFound("x"), 404),
    (errors.InvalidTransition("x"), 409), (errors.Conflict("x"), 409), (errors.VersionMismatch("x"), 412),
    (errors.InvalidInput({"a.b": ["bad"]}), 422), (TooManyAttempts(5), 429), (UnknownService("cases"), 503),
    (ServiceUnavailable("x"), 503), (OperationalError("db down"), 503), (RemoteError("OperationalError", "x"), 503),
    (RemoteError("CallerRefused", "expired"), 503),
    (RemoteError("KeyError", "'name'"), 500), (KeyError("survivor"), 500),
])
def test_every_error_becomes_a_problem_document(error, status):
    response = problem_for(error)
    body = json.loads(response.get_data())
    assert response.status_code == status == body["status"]
    assert response.content_type == "application/problem+json"
    assert set(body) >= {"type", "code", "title", "status", "detail"}
    assert body["code"] in OPENAPI["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert body["type"] == f"https://casetrail.example/problems/{body['code']}"
    if status == 500:
        assert "survivor" not in body["detail"] and "Traceback" not in body["detail"]
    if status == 422:
        assert body["errors"] == {"a.b": ["bad"]}


def test_validation_messages_become_field_paths():
    messages = {"survivor": {"name": ["Missing data for required field."]}, "goals": {0: {"due_date": ["Bad."]}}}
    assert field_paths(messages) == {"survivor.name": ["Missing data for required field."],
                                     "goals.0.due_date": ["Bad."]}


def test_errors_cross_rpc_as_themselves():
    from nameko.exceptions import deserialize, serialize
    crossed = deserialize(serialize(errors.InvalidInput({"risk_level": ["bad"]})))
    assert isinstance(crossed, errors.InvalidInput) and crossed.errors == {"risk_level": ["bad"]}
    assert isinstance(deserialize(serialize(errors.NotFound("No such case."))), errors.NotFound)


def test_an_rpc_call_that_does_not_answer_in_time_is_service_unavailable():
    import eventlet

    from services.gateway.http import call
    with pytest.raises(ServiceUnavailable):
        call(eventlet.sleep, 1, timeout=0.05)


def test_every_gateway_route_is_in_the_openapi_document():
    import inspect
    import re

    from nameko.web.handlers import HttpRequestHandler

    from services.gateway.openapi import OPENAPI
    from services.gateway.service import GatewayService
    routes = {(entrypoint.method.lower(), re.sub(r"<string:\w+>", "{id}", entrypoint.url))
              for _, attribute in inspect.getmembers(GatewayService, inspect.isfunction)
              if attribute.__module__.startswith("services.gateway.")  # not Observable's /health, /metrics
              for entrypoint in getattr(attribute, "nameko_entrypoints", ())
              if isinstance(entrypoint, HttpRequestHandler) and entrypoint.method != "*"}  # "*": unknown routes
    documented = {(method, path) for path, item in OPENAPI["paths"].items() for method in item}
    assert routes and routes <= documented, routes - documented
