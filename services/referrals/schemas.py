"""What the referrals service accepts over RPC."""
from marshmallow import fields, validate

from services.referrals.domain import URGENCIES
from shared.envelope import SERVICE_TYPES, Strict


class ProviderSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    service_types = fields.List(fields.String(validate=validate.OneOf(SERVICE_TYPES)), required=True,
                                validate=validate.Length(min=1))
    area = fields.String(required=True, validate=validate.Length(min=1, max=200))
    contact = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ProviderQuerySchema(Strict):
    service_type = fields.String(validate=validate.OneOf(SERVICE_TYPES))
    area = fields.String(validate=validate.Length(max=200))


class ReferralSchema(Strict):
    provider_id = fields.UUID(required=True)
    service_type = fields.String(required=True, validate=validate.OneOf(SERVICE_TYPES))
    urgency = fields.String(load_default="routine", validate=validate.OneOf(URGENCIES))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class ReasonSchema(Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class OutcomeSchema(Strict):
    outcome = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class EmptySchema(Strict):
    pass
