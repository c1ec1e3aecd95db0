"""What the approvals service accepts over RPC."""
from marshmallow import fields, validate

from services.approvals.domain import Decision, Kind, Rule
from shared.envelope import Strict
from shared.paging import PageSchema
from shared.text import Line, Text
from shared.vocabulary import ApprovalStatus, RiskLevel, values

LISTED = (ApprovalStatus.PENDING.value, ApprovalStatus.APPROVED.value, ApprovalStatus.REJECTED.value)


class PolicySchema(Strict):
    case_plan = Line(required=True, validate=validate.OneOf(values(Rule)))
    closure = Line(required=True, validate=validate.OneOf(values(Rule)))


class DecisionSchema(Strict):
    decision = Line(required=True, validate=validate.OneOf(values(Decision)))
    comment = Text(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class QueueQuerySchema(PageSchema):
    status = Line(validate=validate.OneOf(LISTED))


class SubmissionSchema(Strict):
    type = Line(required=True, validate=validate.OneOf(values(Kind)))
    risk_level = Line(required=True, validate=validate.OneOf(values(RiskLevel)))
    approval_required = fields.Boolean(load_default=False)
    # issue 19: the case's organisation, whose policy decides (the cases service says which).
    organisation = Line(load_default=None, allow_none=True, validate=validate.Length(max=64))
