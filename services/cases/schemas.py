"""What the cases service accepts over RPC. The gateway forwards request bodies as they came."""
from marshmallow import fields, validate

from services.cases.domain import STAGES
from shared.envelope import RISK_LEVELS, Strict


class SurvivorSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    sex = fields.String(validate=validate.OneOf(("female", "male", "other", "unknown")))
    date_of_birth = fields.Date()
    phone = fields.String(validate=validate.Length(max=40))
    location = fields.String(validate=validate.Length(max=200))


class CaregiverSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    relationship = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(validate=validate.Length(max=40))


class RegisterCaseSchema(Strict):
    survivor = fields.Nested(SurvivorSchema, required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    is_child = fields.Boolean(load_default=False)
    caregiver = fields.Nested(CaregiverSchema, load_default=None)
    intake_notes = fields.String(load_default=None, validate=validate.Length(max=10000))


class ListCasesSchema(Strict):
    stage = fields.String(validate=validate.OneOf(STAGES))
    risk_level = fields.String(validate=validate.OneOf(RISK_LEVELS))
    assigned_to = fields.String()
    overdue = fields.Boolean()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True)
