"""The acting user, sent by the gateway with every RPC call and recorded on every event."""
from marshmallow import fields, validate

from shared.envelope import ROLES, Strict
from shared.validation import load


class CallerSchema(Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    # For a supervisor: the caseworkers whose supervisor they are.
    team = fields.List(fields.String(), load_default=list)
    # For a caseworker: their supervisor, and the other caseworkers of that supervisor's team.
    supervisor = fields.String(load_default=None, allow_none=True)
    teammates = fields.List(fields.String(), load_default=list)
    # For a provider's focal point: the provider they act for.
    provider_id = fields.String(load_default=None, allow_none=True)
    correlation_id = fields.String(load_default=None, allow_none=True)


def read_caller(data: dict) -> dict:
    return load(CallerSchema(), data, prefix="caller")


def recorded_by(caller: dict) -> dict:
    """What an event keeps of the caller."""
    return {"username": caller["username"], "role": caller["role"],
            "correlation_id": caller.get("correlation_id")}
