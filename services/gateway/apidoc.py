"""How a route documents itself for the OpenAPI document (services/gateway/openapi.py generates it from
these, from the route's @route and from the marshmallow schemas that validate its input). Every route
says, next to its code:

    @doc("Register a survivor's case", body=RegisterCaseSchema, status=201, returns=CaseView,
         headers=("ETag", "Location"), takes=("Idempotency-Key",), errors=(403, 409), example={...})
    @route("POST", "/v1/cases")
    def register_case(self, request, caller): ...

Its operationId is the handler's name, its tag its route class's `tag`. The error statuses every route of
its kind can give are added by the generator (see `openapi.py: _errors`); `errors` names the others."""
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

# Request headers a route may take, and response headers it may send, by name (openapi.py describes each).
REQUEST_HEADERS = ("If-Match", "Idempotency-Key")
RESPONSE_HEADERS = ("ETag", "Location")


@dataclass(frozen=True)
class Doc:
    summary: str
    status: int = 200  # the success status
    returns: type[Schema] | None = None  # the success body's schema; None: no body (204)
    body: type[Schema] | None = None  # the request body's schema: the one that validates it
    body_optional: bool = False  # a body may be left out (no body is the same as `{}`)
    example: dict[str, Any] | None = None  # of the request body
    query: type[Schema] | None = None  # documents the query parameters (by default: the route's own schema)
    headers: tuple[str, ...] = ()  # response headers on success, of RESPONSE_HEADERS
    takes: tuple[str, ...] = ()  # request headers, of REQUEST_HEADERS
    errors: tuple[int, ...] = ()  # error statuses beyond those every route of its kind gives
    description: str | None = None  # by default the handler's docstring
    signed_in: bool | None = None  # needs a bearer token though its @route checks none itself (logout)
    media_type: str | None = None  # what it answers when not JSON: the web app's files (routes/webapp.py)

    def __post_init__(self):
        unknown = set(self.headers) - set(RESPONSE_HEADERS) | set(self.takes) - set(REQUEST_HEADERS)
        if unknown:
            raise ValueError(f"undocumented headers: {sorted(unknown)}")
        if self.body is not None and self.example is None:
            raise ValueError(f"{self.summary!r}: a route that takes a body gives an example of it")


def doc(summary: str, **declared):
    """Declares a route's documentation (above its @route): see the module's docstring."""
    def decorate(handler):
        handler.api_doc = Doc(summary, **declared)
        return handler
    return decorate
