"""What the approvals service accepts over RPC."""
from marshmallow import fields, validate

from services.approvals.domain import POLICIES
from shared.envelope import Strict


class PolicySchema(Strict):
    case_plan = fields.String(required=True, validate=validate.OneOf(POLICIES))
    closure = fields.String(required=True, validate=validate.OneOf(POLICIES))


class DecisionSchema(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class QueueQuerySchema(Strict):
    status = fields.String(validate=validate.OneOf(("pending", "approved", "rejected")))
