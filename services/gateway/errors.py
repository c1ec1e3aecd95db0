"""The one table from errors to HTTP problems (application/problem+json)."""
import json
import logging

from eventsourcing.persistence import InterfaceError, OperationalError
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.wrappers import Response

from services.gateway.application import TooManyAttempts, Unauthorized
from shared import errors

log = logging.getLogger(__name__)


class BadRequest(errors.CasetrailError):
    """The body is not JSON."""


ServiceUnavailable = errors.ServiceUnavailable

class PayloadTooLarge(errors.CasetrailError):
    """The body is larger than any request needs."""


class UnsupportedMediaType(errors.CasetrailError):
    """The body is not sent as JSON."""


PROBLEMS: dict[type, tuple[int, str]] = {
    BadRequest: (400, "Malformed request"),
    PayloadTooLarge: (413, "Payload too large"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    Unauthorized: (401, "Unauthorized"),
    errors.Forbidden: (403, "Forbidden"),
    errors.NotFound: (404, "Not found"),
    errors.InvalidTransition: (409, "Not allowed in the current state"),
    errors.Conflict: (409, "Conflict"),
    errors.VersionMismatch: (412, "Version mismatch"),
    errors.InvalidInput: (422, "Invalid input"),
    TooManyAttempts: (429, "Too many attempts"),
    ServiceUnavailable: (503, "Service unavailable"),
}
UNAVAILABLE = (UnknownService, OperationalError, InterfaceError, ConnectionError, OSError)
# A service's own database or broker trouble, reported over RPC by name.
REMOTE_UNAVAILABLE = {"OperationalError", "InterfaceError", "PersistenceError", "PoolTimeout",
                      "ConnectionError", "UnknownService"}


def problem(status: int, title: str, detail: str, **extra) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


def problem_for(exc: BaseException) -> Response:
    for error_type, (status, title) in PROBLEMS.items():
        if isinstance(exc, error_type):
            extra = {}
            if isinstance(exc, errors.InvalidInput):
                extra["errors"] = exc.errors
                detail = "Some fields are invalid."
            else:
                detail = str(exc)
            response = problem(status, title, detail, **extra)
            if isinstance(exc, TooManyAttempts):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
    if isinstance(exc, UNAVAILABLE) or (isinstance(exc, RemoteError) and exc.exc_type in REMOTE_UNAVAILABLE):
        log.warning("backing service unavailable: %s", type(exc).__name__)
        return problem(503, "Service unavailable", "A backing service is unavailable; try again shortly.")
    kind = exc.exc_type if isinstance(exc, RemoteError) else type(exc).__name__
    log.error("unexpected error: %s", kind, exc_info=not isinstance(exc, RemoteError))
    return problem(500, "Internal error", "Something went wrong; it has been logged.")
