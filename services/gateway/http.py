"""Plumbing of the HTTP door: one decorator gives every route auth, error mapping, correlation
ids and timing, so route handlers read as parse, call, respond."""
import json
import re
import time
from functools import wraps
from uuid import uuid4

import eventlet
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.gateway.errors import BadRequest, ServiceUnavailable, problem_for
from shared.logs import correlation_id
from shared.errors import REFUSALS
from shared.metrics import HTTP_DURATION, RPC_ERRORS

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def route(method: str, url: str, *, authenticated: bool = True):
    """Declares an HTTP route; the handler gets `caller` when the route needs a login."""
    def decorate(handler):
        @wraps(handler)
        def serve(self, request, **params):
            started = time.perf_counter()
            cid = request.headers.get("X-Correlation-Id", "")
            cid = cid if _CORRELATION_ID.match(cid) else str(uuid4())
            token = correlation_id.set(cid)
            try:
                if authenticated:
                    params["caller"] = self.caller_for(request, cid)
                response = handler(self, request, **params)
            except Exception as exc:  # every failure becomes a problem document, never a trace
                response = problem_for(exc)
            finally:
                correlation_id.reset(token)
            response.headers["X-Correlation-Id"] = cid
            HTTP_DURATION.labels(method, url, str(response.status_code)).observe(time.perf_counter() - started)
            return response
        return http(method, url)(serve)
    return decorate


def json_body(request) -> dict:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None


def respond(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def call(method, *args, timeout: float):
    """An RPC call that gives up after `timeout` seconds (then 503)."""
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
    return {"if_match": if_match, "idempotency_key": request.headers.get("Idempotency-Key")}
