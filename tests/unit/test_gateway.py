import json
import time

import jwt
import pytest
from eventsourcing.persistence import OperationalError
from nameko.exceptions import RemoteError, UnknownService

from services.gateway.auth import PasswordChangeRequired, Tokens, TooManyAttempts, Unauthorized
from services.gateway.domain import check_password, password_refusal
from services.gateway.errors import BadRequest, ServiceUnavailable, problem_for
from services.gateway.openapi import CODES
from services.gateway.policy import may_before_password_change
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


@pytest.mark.parametrize("password", [
    "password1234", "P@ssw0rd12345", "qwertyuiop123", "iloveyou12345", "letmein123456", "1234567890123",
    "passwordpassword", "aaaaaaaaaaaaaaaa", "short-pass", "xx-cw-amina-xx-cw-amina"])
def test_the_password_policy_refuses_short_common_and_username_bearing_passwords(password):
    why = password_refusal(password, "cw-amina")
    assert why is not None
    with pytest.raises(errors.InvalidInput) as refused:
        check_password(password, "cw-amina", "new_password")
    assert list(refused.value.errors) == ["new_password"]


def test_the_password_policy_takes_long_unusual_passwords_and_judges_a_very_long_one_by_its_start():
    for password in ("a-long-enough-password", "correct horse battery staple", "Tr0ub4dor&3-kakuma",
                     "x" + "q7#Lm!vR2pZ" * 100):
        assert password_refusal(password, "cw-amina") is None, password
    assert password_refusal("password" * 20, "cw-amina") is not None
    # The username counts whatever its case; the display name is among what zxcvbn looks for.
    assert password_refusal("CW-AMINA-and-more-words", "cw-amina") is not None


def test_a_reset_user_may_only_change_their_password_read_themselves_or_log_out():
    assert may_before_password_change("POST", "/v1/users/me/password")
    assert may_before_password_change("GET", "/v1/users/me")
    assert may_before_password_change("POST", "/v1/auth/logout")
    for method, path in (("GET", "/v1/cases"), ("PUT", "/v1/users/me/preferences"), ("POST", "/v1/users/me"),
                         ("GET", "/v1/users/me/password"), ("GET", "/v1/users")):
        assert not may_before_password_change(method, path)


@pytest.mark.parametrize("error, status", [
    (BadRequest("x"), 400), (Unauthorized("x"), 401), (errors.Forbidden("x"), 403), (errors.NotFound("x"), 404),
    (errors.InvalidTransition("x"), 409), (errors.Conflict("x"), 409), (errors.VersionMismatch("x"), 412),
    (errors.InvalidInput({"a.b": ["bad"]}), 422), (TooManyAttempts(5), 429), (UnknownService("cases"), 503),
    (ServiceUnavailable("x"), 503), (OperationalError("db down"), 503), (RemoteError("OperationalError", "x"), 503),
    (RemoteError("CallerRefused", "expired"), 503), (PasswordChangeRequired("x"), 403),
    (RemoteError("KeyError", "'name'"), 500), (KeyError("survivor"), 500),
])
def test_every_error_becomes_a_problem_document(error, status):
    response = problem_for(error)
    body = json.loads(response.get_data())
    assert response.status_code == status == body["status"]
    assert response.content_type == "application/problem+json"
    assert set(body) >= {"type", "code", "title", "status", "detail"}
    assert body["code"] in CODES
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


def _gateway_routes():
    import inspect

    from nameko.web.handlers import HttpRequestHandler

    from services.gateway.service import GatewayService
    return [(attribute, entrypoint) for _, attribute in inspect.getmembers(GatewayService, inspect.isfunction)
            for entrypoint in getattr(attribute, "nameko_entrypoints", ())
            if isinstance(entrypoint, HttpRequestHandler) and entrypoint.method != "*"]  # "*": unknown routes


def test_every_gateway_route_is_in_the_openapi_document_with_its_handler_as_operation_id():
    import re

    from services.gateway.openapi import document
    from services.gateway.service import GatewayService
    paths = document(GatewayService)["paths"]
    routes = _gateway_routes()
    assert len(routes) > 50
    for handler, entrypoint in routes:
        operation = paths[re.sub(r"<(?:string|path):(\w+)>", r"{\1}", entrypoint.url)][entrypoint.method.lower()]
        assert operation["operationId"] == handler.__name__
        assert operation["tags"] and operation["summary"] and operation["description"]
    assert sum(len(item) for item in paths.values()) == len(routes)


def test_a_route_without_its_documentation_cannot_be_served():
    from services.gateway.http import route
    from services.gateway.openapi import document

    class Undocumented:
        @route("GET", "/v1/nowhere")
        def nowhere(self, request, caller):
            raise AssertionError("never called")
    with pytest.raises(LookupError, match="nowhere"):
        document(Undocumented)


def test_the_documented_query_parameters_are_those_the_route_takes():
    from services.gateway.http import route_of
    from services.gateway.openapi import document
    from services.gateway.service import GatewayService
    operations = {operation["operationId"]: operation for item in document(GatewayService)["paths"].values()
                  for operation in item.values()}
    for handler, _ in _gateway_routes():
        taken = set(route_of(handler)[1]().fields) if route_of(handler)[1] else set()
        documented = {parameter["name"] for parameter in operations[handler.__name__].get("parameters", ())
                      if "$ref" not in parameter and parameter["in"] == "query"}
        assert documented == taken, handler.__name__


def test_the_problem_schema_names_every_code_the_gateway_gives_and_what_each_means():
    from services.gateway.errors import ADVICE, INTERNAL, PROBLEMS
    from services.gateway.openapi import document
    from services.gateway.service import GatewayService
    problem = document(GatewayService)["components"]["schemas"]["Problem"]
    codes = {code for _, code, _ in (*PROBLEMS.values(), INTERNAL)}
    assert set(problem["properties"]["code"]["enum"]) == codes == set(ADVICE)
    assert all(f"| `{code}` |" in problem["description"] for code in codes)
