"""The acting user (and the organisation they belong to), sent by the gateway with every RPC call
(signed: shared/identity.py) and recorded on every event. Inside a service it is a `Caller`: a
frozen value, read once."""
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from shared.envelope import ROLES, Strict
from shared.validation import load
from shared.vocabulary import CASE_ROLES, Role


class CallerSchema(Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))  # never "operator": no user is one
    # For a supervisor: the caseworkers whose supervisor they are.
    team = fields.List(fields.String(), load_default=list)
    # For a caseworker: their supervisor, and the other caseworkers of that supervisor's team.
    supervisor = fields.String(load_default=None, allow_none=True)
    teammates = fields.List(fields.String(), load_default=list)
    # For a provider's focal point: the provider they act for.
    provider_id = fields.String(load_default=None, allow_none=True)
    # The organisation (agency) the user belongs to (issue 19); none for the admin.
    organisation = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    correlation_id = fields.String(load_default=None, allow_none=True)


@dataclass(frozen=True)
class Caller:
    username: str
    role: Role
    team: tuple[str, ...] = ()
    supervisor: str | None = None
    teammates: tuple[str, ...] = ()
    provider_id: str | None = None
    correlation_id: str | None = None
    organisation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, data: "Caller | dict") -> "Caller":
        """From the dict the RPC layer hands over (validated), or as it is."""
        if isinstance(data, Caller):
            return data
        loaded = load(CallerSchema, data, prefix="caller")
        return cls(username=loaded["username"], role=Role(loaded["role"]), team=tuple(loaded["team"]),
                   supervisor=loaded["supervisor"], teammates=tuple(loaded["teammates"]),
                   provider_id=loaded["provider_id"], correlation_id=loaded["correlation_id"],
                   organisation=loaded["organisation"])

    @property
    def works_on_cases(self) -> bool:
        return self.role in CASE_ROLES

    @property
    def scope(self) -> tuple[str, ...]:
        """Whose cases the caller acts on: a caseworker's own; a supervisor's own and their team's."""
        if self.role == Role.SUPERVISOR:
            return (self.username, *self.team)
        return (self.username,) if self.role == Role.CASEWORKER else ()

    def as_dict(self) -> dict:
        """What goes over RPC (and is signed): the schema's fields."""
        return {"username": self.username, "role": str(self.role), "team": list(self.team),
                "supervisor": self.supervisor, "teammates": list(self.teammates),
                "provider_id": self.provider_id, "correlation_id": self.correlation_id,
                "organisation": self.organisation}

    def recorded(self) -> dict:
        """What an event keeps of the caller."""
        return {"username": self.username, "role": str(self.role), "correlation_id": self.correlation_id}


def read_caller(data: dict) -> Caller:
    return Caller.of(data)


def recorded_by(caller: Caller) -> dict:
    """What an event keeps of the caller."""
    return caller.recorded()
