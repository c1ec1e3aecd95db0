"""Plumbing of the HTTP door: one decorator gives every route auth, error mapping, correlation
ids and timing, so route handlers read as parse, call, respond."""
import inspect
import json
import re
import time
from functools import cache, wraps
from uuid import uuid4

import eventlet
import werkzeug.exceptions
from marshmallow import Schema
from nameko.web.handlers import HttpRequestHandler, http
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.wrappers import Response

from services.gateway.cors import options_answer, with_cors
from services.gateway.errors import (
    BadRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    problem_for,
)
from services.gateway.schemas import NoQuery
from shared.errors import REFUSALS, InvalidInput, NotFound
from shared.logs import correlation_id
from shared.metrics import HTTP_DURATION, RPC_ERRORS
from shared.text import refusal
from shared.validation import load, printable, refuse_unsafe_strings

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def route(method: str, url: str, *, authenticated: bool = True, query: type[Schema] | None = None,
          cacheable: bool = False, every_method: bool = False):
    """Declares an HTTP route; the handler gets `caller` when the route needs a login, and `query` (its
    parameters, validated by the schema) when it takes any: an unknown parameter is refused. Every answer is
    `Cache-Control: no-store` but a `cacheable` route's successes (the web app's files), which set their own.
    An `every_method` route gets its path's every method, and refuses those it does not take with
    `refuse_unknown_route` (the web app's shell at `/`, which no answer to unknown routes may shadow)."""
    def decorate(handler):
        def read(self, request, cid: str) -> dict:
            params = {"caller": self.caller_for(request, cid)} if authenticated else {}
            args = query_args(request, query or NoQuery)
            return params | {"query": args} if query else params
        served = _served(handler, method, url, read, cacheable)
        served.route_of = (authenticated, query)  # what the OpenAPI document says of it (openapi.py)
        return (_EveryMethod.decorator if every_method else http)(method, url)(served)
    return decorate


def route_of(handler) -> tuple[bool, type[Schema] | None]:
    """Whether a route needs a login, and the schema of its query parameters (None: it takes none)."""
    return getattr(handler, "route_of", (False, None))


class _AnyMethod(HttpRequestHandler):
    def get_url_rule(self):
        return Rule(self.url)  # no methods: it takes any, even one no route knows


class _EveryMethod(HttpRequestHandler):
    def get_url_rule(self):
        return Rule(self.url)  # every method: its handler refuses the others (405)


def unknown_routes(handler):
    """Declares the answer to what no route takes: 404, or 405 (with Allow) for a path that takes other
    methods. werkzeug matches every declared route before this one. `/` is the web app's (routes/webapp.py):
    two rules of one path would be tried in an arbitrary order."""
    served = _served(handler, "*", "unknown", lambda self, request, cid: {})
    return _AnyMethod.decorator("*", "/<path:path>")(served)


def refuse_unknown_route(service: type, request) -> None:
    try:
        _declared_routes(service).match(request.path, method=request.method)
    except werkzeug.exceptions.MethodNotAllowed as wrong:
        raise MethodNotAllowed("The resource does not take this method; see Allow.",
                               sorted(wrong.valid_methods)) from None
    except werkzeug.exceptions.HTTPException:
        pass
    raise NotFound("No such resource.")


def _methods_of(service: type, path: str) -> list[str]:
    methods = _declared_routes(service).allowed_methods(path)
    if not methods:
        raise NotFound("No such resource.")
    return methods


@cache
def _declared_routes(service: type) -> MapAdapter:
    rules = [Rule(entrypoint.url, methods=entrypoint.method.split(","))
             for _, member in inspect.getmembers(service, inspect.isfunction)
             for entrypoint in getattr(member, "nameko_entrypoints", ())
             if isinstance(entrypoint, HttpRequestHandler) and not isinstance(entrypoint, _AnyMethod)]
    return Map(rules).bind("gateway")


def _served(handler, method: str, url: str, read, cacheable: bool = False):
    """`handler` with a correlation id, a deadline, the parameters `read(self, request, cid)` gives it,
    every failure as a problem document, and the headers every response carries."""
    @wraps(handler)
    def serve(self, request, **params):
        started = time.perf_counter()
        cid = request.headers.get("X-Correlation-Id", "")
        cid = cid if _CORRELATION_ID.match(cid) else str(uuid4())
        token = correlation_id.set(cid)
        try:
            # A deadline on the whole request (REQUEST_TIMEOUT_SECONDS): a database or service that
            # stopped answering gives a prompt 503, never a hung client.
            deadline = self.settings.request_timeout
            with eventlet.Timeout(deadline, ServiceUnavailable("The request could not finish in time.")):
                if request.method == "OPTIONS":  # a browser's preflight, sent without credentials
                    response = options_answer(_methods_of(type(self), request.path), request,
                                              self.settings.cors_origins)
                else:
                    response = handler(self, request, **params, **read(self, request, cid))
        except Exception as exc:  # every failure becomes a problem document, never a trace
            response = problem_for(exc)
        finally:
            correlation_id.reset(token)
        response.headers["X-Correlation-Id"] = cid
        with_cors(response, request.headers.get("Origin"), self.settings.cors_origins)
        if not cacheable or response.status_code >= 400 or "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"  # answers hold survivor data: no cache keeps them
        HTTP_DURATION.labels(method, url, str(response.status_code)).observe(time.perf_counter() - started)
        return response
    return serve


def query_args(request, schema: type[Schema]) -> dict:
    """Query parameters: each given once, a single line, and one the route knows (else 422)."""
    repeated = {printable(name): ["Give this parameter once."]
                for name, values in request.args.lists() if len(values) > 1}
    if repeated:
        raise InvalidInput(repeated)
    return load(schema(), request.args.to_dict())


MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(request) -> str | None:
    """The Idempotency-Key header: a single line of 1 to 200 characters (else 422), or None."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    why = refusal(key) or (None if 0 < len(key) <= MAX_IDEMPOTENCY_KEY else
                           f"Give 1 to {MAX_IDEMPOTENCY_KEY} characters.")
    if why is not None:
        raise InvalidInput({"headers.idempotency_key": [why]})
    return key


MAX_BODY_BYTES = 256 * 1024  # the largest case command (a plan of 50 goals, long notes) is far below
MAX_DEPTH = 16  # no request nests deeper than a few levels
_JSON = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


def json_body(request) -> dict:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request bodies are at most {MAX_BODY_BYTES // 1024} KiB.")
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request bodies are at most {MAX_BODY_BYTES // 1024} KiB.")
    if data.strip() and not _JSON.match(request.headers.get("Content-Type", "")):
        raise UnsupportedMediaType("Send the body as JSON, with 'Content-Type: application/json'.")
    try:
        body = json.loads(data.decode("utf-8") or "null")
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None
    if _depth(body) > MAX_DEPTH:
        raise BadRequest(f"The body nests deeper than {MAX_DEPTH} levels.")
    refuse_unsafe_strings(body)  # before anything is forwarded: the services refuse them too
    return body


def _depth(value) -> int:
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def respond(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def call(method, *args, timeout: float | None = None):
    """An RPC call that gives up after `timeout` seconds (then 503): by default the deadline the method's
    proxy sends it with (shared/rpc.py SignedRpcProxy), after which it expires unprocessed."""
    timeout = method.deadline if timeout is None else timeout
    # eventlet.Timeout is a BaseException: raise an error the route maps instead.
    try:
        with eventlet.Timeout(timeout, ServiceUnavailable("A backing service did not answer in time.")):
            return method(*args)
    except REFUSALS:
        raise  # the service answered: a refusal, not a failed call
    except Exception as failure:
        RPC_ERRORS.labels(getattr(method, "service_name", "?"), getattr(method, "method_name", "?"),
                          getattr(failure, "exc_type", None) or type(failure).__name__).inc()
        raise


_IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def command_options(request) -> dict:
    """If-Match (the case version a client last saw) and Idempotency-Key, for a case command."""
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        matched = _IF_MATCH.match(if_match.strip())
        if not matched:
            raise BadRequest('If-Match must name a case version, like "3".')
        if_match = int(matched.group(1))
    return {"if_match": if_match, "idempotency_key": idempotency_key(request)}
