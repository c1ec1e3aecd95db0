"""What the cases service accepts over RPC. The gateway forwards request bodies as they came."""
from datetime import UTC

from marshmallow import ValidationError, fields, validate, validates_schema

from services.cases.domain import DOMAINS, RATINGS
from shared.envelope import SERVICE_TYPES, Strict
from shared.paging import PageSchema
from shared.text import Line, Text
from shared.vocabulary import ClosureReason, RiskLevel, Stage, values

RISK_LEVELS = values(RiskLevel)


class SurvivorSchema(Strict):
    name = Line(required=True, validate=validate.Length(min=1, max=200))
    sex = Line(validate=validate.OneOf(("female", "male", "other", "unknown")))
    date_of_birth = fields.Date()
    phone = Line(validate=validate.Length(max=40))
    location = Line(validate=validate.Length(max=200))


class CaregiverSchema(Strict):
    name = Line(required=True, validate=validate.Length(min=1, max=200))
    relationship = Line(required=True, validate=validate.Length(min=1, max=100))
    phone = Line(validate=validate.Length(max=40))


class RegisterCaseSchema(Strict):
    survivor = fields.Nested(SurvivorSchema, required=True)
    risk_level = Line(required=True, validate=validate.OneOf(RISK_LEVELS))
    is_child = fields.Boolean(load_default=False)
    caregiver = fields.Nested(CaregiverSchema, load_default=None)
    unaccompanied = fields.Boolean(load_default=False)
    unaccompanied_reason = Text(load_default=None, validate=validate.Length(min=1, max=2000))
    intake_notes = Text(load_default=None, validate=validate.Length(max=10000))

    @validates_schema
    def a_child_has_a_caregiver_or_a_reason(self, data, **kwargs):
        if not data.get("is_child"):
            return
        if data.get("unaccompanied"):
            if not (data.get("unaccompanied_reason") or "").strip():
                raise ValidationError("Say why the child is unaccompanied or separated.", "unaccompanied_reason")
        elif not data.get("caregiver"):
            raise ValidationError("A child's case needs a caregiver, unless the child is unaccompanied.", "caregiver")


class ListCasesSchema(PageSchema):
    stage = Line(validate=validate.OneOf(values(Stage)))
    risk_level = Line(validate=validate.OneOf(RISK_LEVELS))
    assigned_to = Line(validate=validate.Length(max=64))
    overdue = fields.Boolean()
    case_number = Line(validate=validate.Length(min=1, max=64))  # exact; one outside the caller's scope: none


class ChangesQuerySchema(Strict):
    since = Line(load_default=None, allow_none=True, validate=validate.Length(max=100))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=200))


class ConsentSchema(Strict):
    services = fields.Boolean(required=True)
    share_with_providers = fields.Boolean(required=True)
    mandatory_reporting_explained = fields.Boolean(required=True)
    given_by = Line(required=True, validate=validate.OneOf(("survivor", "caregiver")))
    child_assent = fields.Boolean()
    child_age = fields.Integer(validate=validate.Range(min=0, max=17))
    best_interests_note = Text(validate=validate.Length(min=1, max=5000))

    @validates_schema
    def disagreement_needs_a_best_interests_note(self, data, **kwargs):
        if data.get("given_by") == "caregiver" and data.get("child_assent") is False \
                and not (data.get("best_interests_note") or "").strip():
            raise ValidationError("The caregiver consents and the child does not assent: record the child's "
                                  "best interests.", "best_interests_note")


class AssessmentSchema(Strict):
    needs = fields.List(Line(validate=validate.OneOf(SERVICE_TYPES)), required=True,
                        validate=validate.Length(min=1))
    safety_concerns = Text(required=True, validate=validate.Length(max=10000))
    risk_level = Line(load_default=None, validate=validate.OneOf(RISK_LEVELS))
    notes = Text(load_default=None, validate=validate.Length(max=10000))


class GoalSchema(Strict):
    need = Line(required=True, validate=validate.OneOf(SERVICE_TYPES))
    action = Text(required=True, validate=validate.Length(min=1, max=2000))
    responsible = Line(required=True, validate=validate.Length(min=1, max=200))
    due_date = fields.Date(required=True)
    consulted = fields.List(Line(validate=validate.Length(max=200)))


class PlanSchema(Strict):
    goals = fields.List(fields.Nested(GoalSchema), required=True, validate=validate.Length(min=1, max=50))
    child_participation = Text(validate=validate.Length(max=5000))


class FollowUpSchema(Strict):
    contacted = fields.Boolean(required=True)
    contact_date = fields.AwareDateTime(required=True, default_timezone=UTC)
    safety_reassessed = fields.Boolean(required=True)
    risk_level = Line(load_default=None, validate=validate.OneOf(RISK_LEVELS))
    notes = Text(load_default=None, validate=validate.Length(max=10000))
    # Monitoring by domain: how the contact was made, and a rating per well-being domain.
    mode = Line(validate=validate.OneOf(("in_person", "phone", "video", "message")))
    spoken_to = fields.List(Line(validate=validate.OneOf(("survivor", "caregiver", "child"))),
                            validate=validate.Length(max=3))
    domain_ratings = fields.Dict(keys=Line(validate=validate.OneOf(DOMAINS)),
                                 values=Line(validate=validate.OneOf(RATINGS)))
    raise_risk_to = Line(validate=validate.OneOf(RISK_LEVELS))
    raise_reason = Text(validate=validate.Length(min=1, max=2000))

    @validates_schema
    def raising_needs_a_reason(self, data, **kwargs):
        if data.get("raise_risk_to") and not (data.get("raise_reason") or "").strip():
            raise ValidationError("Say why the risk is raised.", "raise_reason")


class ConferenceSchema(Strict):
    held_on = fields.Date(required=True)
    participants = fields.List(Line(validate=validate.Length(min=1, max=200)), required=True,
                               validate=validate.Length(min=1))
    decisions = Text(required=True, validate=validate.Length(min=1, max=10000))
    next_steps = Text(load_default=None, validate=validate.Length(max=10000))


class ClosureSchema(Strict):
    reason = Line(required=True, validate=validate.OneOf(values(ClosureReason)))
    notes = Text(required=True, validate=validate.Length(min=1, max=10000))


class ReasonSchema(Strict):
    reason = Text(required=True, validate=validate.Length(min=1, max=5000))


class ReassignSchema(Strict):
    caseworker = Line(required=True, validate=validate.Length(min=1, max=64))


class FeedbackSchema(Strict):
    answers = fields.Dict(keys=Line(validate=validate.Length(min=1, max=100)),
                          values=Text(validate=validate.Length(max=5000)), required=True,
                          validate=validate.Length(min=1, max=50))


class CommandOptionsSchema(Strict):
    """What the gateway passes along from the request's headers."""
    if_match = fields.Integer(load_default=None, allow_none=True)
    idempotency_key = Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class AsOfSchema(Strict):
    as_of = fields.AwareDateTime(required=True, default_timezone=UTC)


class EraseSchema(Strict):
    reason = Text(required=True, validate=validate.Length(min=1, max=1000))


class HistoryQuerySchema(PageSchema):
    pass


class TextsSchema(Strict):
    texts = fields.List(Text(allow_none=True, validate=validate.Length(max=10000)), required=True,
                        validate=validate.Length(max=100))


class SealedTextsSchema(Strict):
    pairs = fields.List(fields.Tuple((fields.UUID(), Line(validate=validate.Length(max=20000)))),
                        required=True, validate=validate.Length(max=1000))
