"""What the approvals service accepts over RPC."""
from marshmallow import fields, validate

from services.approvals.domain import KINDS, POLICIES
from shared.envelope import RISK_LEVELS, Strict
from shared.text import Line, Text


class PolicySchema(Strict):
    case_plan = Line(required=True, validate=validate.OneOf(POLICIES))
    closure = Line(required=True, validate=validate.OneOf(POLICIES))


class DecisionSchema(Strict):
    decision = Line(required=True, validate=validate.OneOf(("approve", "reject")))
    comment = Text(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class QueueQuerySchema(Strict):
    status = Line(validate=validate.OneOf(("pending", "approved", "rejected")))


class SubmissionSchema(Strict):
    type = Line(required=True, validate=validate.OneOf(KINDS))
    risk_level = Line(required=True, validate=validate.OneOf(RISK_LEVELS))
    approval_required = fields.Boolean(load_default=False)
