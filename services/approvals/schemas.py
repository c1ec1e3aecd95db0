"""What the approvals service accepts over RPC."""
from marshmallow import fields, validate

from services.approvals.domain import POLICIES
from shared.envelope import Strict
from shared.text import Line, Text


class PolicySchema(Strict):
    case_plan = Line(required=True, validate=validate.OneOf(POLICIES))
    closure = Line(required=True, validate=validate.OneOf(POLICIES))


class DecisionSchema(Strict):
    decision = Line(required=True, validate=validate.OneOf(("approve", "reject")))
    comment = Text(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class QueueQuerySchema(Strict):
    status = Line(validate=validate.OneOf(("pending", "approved", "rejected")))
