"""What the referrals service accepts over RPC."""
from marshmallow import fields, validate

from services.referrals.domain import Urgency
from shared.envelope import SERVICE_TYPES, Strict
from shared.paging import PageSchema
from shared.text import Line, Text
from shared.vocabulary import values


class ProviderSchema(Strict):
    name = Line(required=True, validate=validate.Length(min=1, max=200))
    service_types = fields.List(Line(validate=validate.OneOf(SERVICE_TYPES)), required=True,
                                validate=validate.Length(min=1))
    area = Line(required=True, validate=validate.Length(min=1, max=200))
    contact = Line(required=True, validate=validate.Length(min=1, max=500))


class ReferralListQuerySchema(PageSchema):
    pass


class ProviderQuerySchema(PageSchema):
    service_type = Line(validate=validate.OneOf(SERVICE_TYPES))
    area = Line(validate=validate.Length(max=200))


class ReferralSchema(Strict):
    provider_id = fields.UUID(required=True)
    service_type = Line(required=True, validate=validate.OneOf(SERVICE_TYPES))
    urgency = Line(load_default=Urgency.ROUTINE.value, validate=validate.OneOf(values(Urgency)))
    notes = Text(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class ReasonSchema(Strict):
    reason = Text(required=True, validate=validate.Length(min=1, max=5000))


class OutcomeSchema(Strict):
    outcome = Text(required=True, validate=validate.Length(min=1, max=5000))


class EmptySchema(Strict):
    pass
