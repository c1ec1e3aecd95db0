"""The one table from errors to HTTP problems (application/problem+json). A service's errors cross RPC
by name (shared/errors.py registers each class with nameko), so they arrive here as themselves and
this table maps them like the gateway's own; a remote database or broker outage is recognised by
name too (REMOTE_UNAVAILABLE)."""
import json
import logging

from eventsourcing.persistence import InterfaceError, OperationalError
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.wrappers import Response

from services.gateway.auth import PasswordChangeRequired, TooManyAttempts, Unauthorized
from shared import errors

log = logging.getLogger(__name__)


class BadRequest(errors.CasetrailError):
    """The body is not JSON."""


ServiceUnavailable = errors.ServiceUnavailable

class PayloadTooLarge(errors.CasetrailError):
    """The body is larger than any request needs."""


class UnsupportedMediaType(errors.CasetrailError):
    """The body is not sent as JSON."""


class MethodNotAllowed(errors.CasetrailError):
    """The path exists, but takes other methods: `allowed` lists them."""

    def __init__(self, message: str, allowed: list[str]):
        super().__init__(message)
        self.allowed = allowed


# A problem's `type` is this base and its `code`: a URI naming the kind of problem.
PROBLEM_TYPES = "https://casetrail.example/problems/"

# Each error a client may meet: its status, the stable `code` clients branch on, and its title.
PROBLEMS: dict[type, tuple[int, str, str]] = {
    BadRequest: (400, "malformed", "Malformed request"),
    PayloadTooLarge: (413, "payload_too_large", "Payload too large"),
    UnsupportedMediaType: (415, "unsupported_media_type", "Unsupported media type"),
    Unauthorized: (401, "unauthenticated", "Unauthorized"),
    PasswordChangeRequired: (403, "password_change_required", "Password change required"),
    errors.Forbidden: (403, "forbidden", "Forbidden"),
    errors.NotFound: (404, "not_found", "Not found"),
    MethodNotAllowed: (405, "method_not_allowed", "Method not allowed"),
    errors.InvalidTransition: (409, "invalid_transition", "Not allowed in the current state"),
    errors.Conflict: (409, "conflict", "Conflict"),
    errors.VersionMismatch: (412, "version_mismatch", "Version mismatch"),
    errors.InvalidInput: (422, "validation", "Invalid input"),
    TooManyAttempts: (429, "rate_limited", "Too many attempts"),
    ServiceUnavailable: (503, "unavailable", "Service unavailable"),
}
INTERNAL = (500, "internal", "Internal error")  # nothing maps the error: a defect, logged, never a trace

# What each code means and what a client should do about it: the OpenAPI document's Problem schema and
# README's API section say it to client developers. Clients branch on `code`, never on `detail`.
ADVICE: dict[str, tuple[str, str]] = {
    "malformed": ("The body is not JSON (or nests deeper than 16 levels), or a header (If-Match) is malformed.",
                  "Fix the request; retrying it unchanged fails the same way."),
    "payload_too_large": ("The body is larger than 256 KiB.", "Send less (no request needs that much)."),
    "unsupported_media_type": ("A body was sent without `Content-Type: application/json`.",
                               "Send JSON with that content type."),
    "unauthenticated": ("No access token, or one that is invalid, expired or whose session ended (logout, "
                        "deactivation, a change of role or supervisor, a password change or reset).",
                        "Refresh the session (POST /v1/auth/refresh) or log in again."),
    "password_change_required": ("The user's password was reset: their token is good only to set a new one.",
                                 "Ask the user for a new password: POST /v1/users/me/password."),
    "forbidden": ("The caller's role may not do this.", "Do not offer the action to this role."),
    "not_found": ("No such resource, or one outside the caller's scope (existence is never revealed).",
                  "Treat it as gone: drop it from local state."),
    "method_not_allowed": ("The path does not take this method; `Allow` lists those it takes.",
                           "Use one of the methods in `Allow`."),
    "invalid_transition": ("The command is not valid in the resource's current state; `detail` says why, "
                           "for a person to read.", "Re-read the resource and show the user its state."),
    "conflict": ("The request conflicts with what exists (a name taken, an Idempotency-Key reused with "
                 "another body, a user still holding cases).", "Change the request; `detail` says what to change."),
    "version_mismatch": ("If-Match names a version the case has moved past: someone else changed it.",
                         "Re-read the case (its ETag), reconcile, and send the command again with the new "
                         "version."),
    "validation": ("Fields are invalid: `errors` maps each field's path to its messages.",
                   "Show the messages next to the fields; fix and resend."),
    "rate_limited": ("Too many failed logins for the account (or from the address).",
                     "Wait the seconds `Retry-After` gives, or ask an admin to unlock the account."),
    "unavailable": ("A backing service, the database or the broker is unavailable, or the request could not "
                    "finish in time.", "Retry later, with backoff; a command sent with an Idempotency-Key "
                                       "can be retried safely."),
    "internal": ("An error the gateway does not know (a defect); it has been logged.",
                 "Retry later; report it with the response's X-Correlation-Id."),
}
UNAVAILABLE = (UnknownService, OperationalError, InterfaceError, ConnectionError, OSError)
# A service's own database or broker trouble, reported over RPC by name.
REMOTE_UNAVAILABLE = {"OperationalError", "InterfaceError", "PersistenceError", "PoolTimeout",
                      "ConnectionError", "UnknownService"}
# A service refused the identity the gateway signed (keys out of step, clocks apart, a call that waited
# past its token's life): nothing the client did or can fix, so 503, and an error for the operator.
REMOTE_REFUSED_CALLER = "CallerRefused"


def problem(status: int, code: str, title: str, detail: str, **extra) -> Response:
    body = {"type": PROBLEM_TYPES + code, "code": code, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


def problem_for(exc: BaseException) -> Response:
    for error_type, (status, code, title) in PROBLEMS.items():
        if isinstance(exc, error_type):
            if isinstance(exc, errors.InvalidInput):
                response = problem(status, code, title, "Some fields are invalid.", errors=exc.errors)
            else:
                response = problem(status, code, title, str(exc))
            if isinstance(exc, TooManyAttempts):
                response.headers["Retry-After"] = str(exc.retry_after)
            if isinstance(exc, MethodNotAllowed):
                response.headers["Allow"] = ", ".join(exc.allowed)
            return response
    if isinstance(exc, RemoteError) and exc.exc_type == REMOTE_REFUSED_CALLER:
        log.error("a service refused the gateway's signed caller: %s", exc.value)
        return problem(503, "unavailable", "Service unavailable",
                       "A backing service is unavailable; try again shortly.")
    if isinstance(exc, UNAVAILABLE) or (isinstance(exc, RemoteError) and exc.exc_type in REMOTE_UNAVAILABLE):
        log.warning("backing service unavailable: %s", type(exc).__name__)
        return problem(503, "unavailable", "Service unavailable",
                       "A backing service is unavailable; try again shortly.")
    kind = exc.exc_type if isinstance(exc, RemoteError) else type(exc).__name__
    log.error("unexpected error: %s", kind, exc_info=not isinstance(exc, RemoteError))
    return problem(*INTERNAL, "Something went wrong; it has been logged.")
