"""Errors a service raises on purpose. They cross RPC by class name; the gateway maps each
name to an HTTP status in one table (services/gateway/errors.py)."""


from nameko.exceptions import deserialize_to_instance


class CasetrailError(Exception):
    """Base: the message is safe to show to the caller (never survivor data)."""


class NotFound(CasetrailError):
    """Unknown id, or a record outside the caller's scope: never leak existence."""


class Forbidden(CasetrailError):
    """The caller's role may not do this."""


class InvalidTransition(CasetrailError):
    """The command is not valid in the current state; the message says why."""


class VersionMismatch(CasetrailError):
    """If-Match named another version than the current one."""


class Conflict(CasetrailError):
    """The request clashes with what exists (a taken username, a reused idempotency key)."""


class InvalidInput(CasetrailError):
    """Field validation failed. `errors` maps field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class ServiceUnavailable(CasetrailError):
    """A service this one needs did not answer in time."""


# A service's refusals (the caller asked for something it may not have), and all expected errors.
REFUSALS = (NotFound, Forbidden, InvalidTransition, VersionMismatch, Conflict, InvalidInput)
EXPECTED = (*REFUSALS, ServiceUnavailable)

# Registered by name, so an RPC caller gets the same class (with its args) back.
for _error in EXPECTED:
    deserialize_to_instance(_error)
