"""What the gateway answers, as marshmallow schemas: the OpenAPI document's response schemas (openapi.py),
each matching what a service's views.py (or the gateway's own) returns today. `required`: always present;
`allow_none`: null occurs. They refuse unknown fields, so the fuzz test (tests/integration/test_fuzz.py),
which checks real answers against the document, catches a view that gained a field they do not name.

A survivor's identifying fields read "[redacted]" for an auditor and "[erased]" after erasure, so they
are plain strings here, never a date or another format a client would parse."""
from marshmallow import fields, validate

from services.approvals.domain import Kind, Rule
from services.cases.domain import DOMAINS, RATINGS
from services.notifications.domain import TYPES as NOTIFICATION_TYPES
from services.referrals.domain import Urgency
from shared.envelope import SERVICE_TYPES, Strict
from shared.vocabulary import USER_ROLES, ApprovalStatus, ClosureReason, ReferralStatus, RiskLevel, Stage, values

IDENTIFYING = "Identifying: \"[redacted]\" for an auditor, \"[erased]\" after erasure."


def _one_of(words, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(tuple(words)), **kwargs)


def _time(**kwargs) -> fields.String:
    """An RFC 3339 UTC time, as a string (format date-time)."""
    return fields.String(metadata={"format": "date-time"}, **kwargs)


def _text(note: str = "", **kwargs) -> fields.String:
    return fields.String(metadata={"description": note + IDENTIFYING}, **kwargs)


def _page(item: type[Strict], name: str) -> type[Strict]:
    """A list envelope: a page of `item`s and the cursor of the next page (null on the last)."""
    return type(name, (Strict,), {
        "items": fields.List(fields.Nested(item), required=True),
        "next_cursor": fields.String(required=True, allow_none=True,
                                     metadata={"description": "Give it as `cursor` for the next page; null: the "
                                                              "last page."}),
        "__doc__": f"A page of {item.__name__.removesuffix('View')} items.",
    })


# --- people -------------------------------------------------------------------------------------

ROLES = tuple(role.value for role in USER_ROLES)


class TokenView(Strict):
    access_token = fields.String(required=True)
    token_type = _one_of(("bearer",), required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the access token is good for."})
    refresh_token = fields.String(required=True, metadata={"description": "Works once: POST /v1/auth/refresh."})


class ListedUserView(Strict):
    id = fields.UUID(required=True)
    username = fields.String(required=True)
    role = _one_of(ROLES, required=True)
    display_name = fields.String(required=True)
    supervisor = fields.String(required=True, allow_none=True)
    provider_id = fields.UUID(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    active = fields.Boolean(required=True)
    organisation = fields.UUID(required=True, allow_none=True, metadata={"description": "Null for the admin."})


class UserView(ListedUserView):
    """A user as read one at a time: as listed, with their preferences and whether a password change is due."""
    email_notifications = fields.Boolean(required=True)
    password_change_required = fields.Boolean(required=True)


UserPage = _page(ListedUserView, "UserPage")


class TeamMemberView(Strict):
    """A caseworker of the supervisor's team, active: whom a case may be reassigned to."""
    username = fields.String(required=True)
    display_name = fields.String(required=True)


TeamPage = _page(TeamMemberView, "TeamPage")


class TemporaryPasswordView(Strict):
    temporary_password = fields.String(required=True)


class OrganisationView(Strict):
    id = fields.UUID(required=True)
    name = fields.String(required=True)


OrganisationPage = _page(OrganisationView, "OrganisationPage")


# --- a case ---------------------------------------------------------------------------------------

class SurvivorView(Strict):
    name = _text(required=True)
    sex = _one_of(("female", "male", "other", "unknown"))
    date_of_birth = _text()
    phone = _text()
    location = _text()


class CaregiverView(Strict):
    name = _text(required=True)
    relationship = _text(required=True)
    phone = _text()


class UnaccompaniedView(Strict):
    reason = _text(required=True, allow_none=True)


class ConsentView(Strict):
    """The survivor's consent as recorded (its own stream), and whether it was withdrawn since."""
    services = fields.Boolean(required=True)
    share_with_providers = fields.Boolean(required=True)
    mandatory_reporting_explained = fields.Boolean(required=True)
    given_by = _one_of(("survivor", "caregiver"), required=True)
    child_assent = fields.Boolean()
    child_age = fields.Integer()
    best_interests_note = _text()
    withdrawn = fields.Boolean(required=True)
    version = fields.Integer(required=True)
    recorded_at = _time(required=True)


class AssessmentView(Strict):
    needs = fields.List(_one_of(SERVICE_TYPES), required=True)
    safety_concerns = _text(required=True)
    notes = _text(required=True, allow_none=True)


class GoalView(Strict):
    need = _one_of(SERVICE_TYPES, required=True)
    action = _text(required=True)
    responsible = _text(required=True)
    due_date = fields.Date(required=True)
    consulted = fields.List(_text())


class PlanView(Strict):
    status = _one_of(("none", "draft", "submitted", "approved", "rejected"), required=True)
    goals = fields.List(fields.Nested(GoalView), required=True)
    child_participation = _text(allow_none=True)
    decided_by = fields.String(metadata={"description": "Who approved or rejected it (`policy`: no approval "
                                                        "was needed)."})


class LastContactView(Strict):
    date = _time(required=True)
    contacted = fields.Boolean(required=True)
    mode = _one_of(("in_person", "phone", "video", "message"), required=True, allow_none=True)
    spoken_to = fields.List(_one_of(("survivor", "caregiver", "child")), required=True, allow_none=True)


class FollowUpView(Strict):
    next_due = _time(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)
    last_contact = fields.Nested(LastContactView, required=True, allow_none=True)
    count = fields.Integer(required=True, metadata={"description": "Follow-ups recorded."})


class ClosureView(Strict):
    status = _one_of(("none", "requested", "approved", "rejected"), required=True)
    reason = _one_of(values(ClosureReason))
    decided_by = fields.String()


class RatingView(Strict):
    rating = _one_of(RATINGS, required=True)
    rated_at = _time(required=True)


class MonitoringView(Strict):
    ratings = fields.Dict(keys=_one_of(DOMAINS), values=fields.Nested(RatingView), required=True)
    to_discuss = fields.List(_one_of(DOMAINS), required=True)
    computed_risk = _one_of(values(RiskLevel), required=True, allow_none=True)
    risk_level = _one_of(values(RiskLevel), required=True)
    raise_reason = _text(required=True, allow_none=True)


class CaseReferralView(Strict):
    referral_id = fields.UUID(required=True)
    provider_id = fields.UUID(required=True)
    service_type = _one_of(SERVICE_TYPES, required=True)
    status = _one_of(values(ReferralStatus), required=True)


class CaseApprovalView(Strict):
    type = _one_of(values(Kind), required=True)
    submission = fields.Integer(required=True)
    requested_by = fields.String(required=True)
    status = _one_of(values(ApprovalStatus), required=True)
    decided_by = fields.String(allow_none=True)
    commented = fields.Boolean()


class ErasureView(Strict):
    reason = _text(required=True)
    erased_by = fields.String(required=True)
    erased_at = _time(required=True)


class CaseView(Strict):
    """The case file (GET /v1/cases/{id}); its `version` is the ETag a command's If-Match names."""
    id = fields.UUID(required=True)
    case_number = fields.String(required=True, metadata={"example": "GBV-2026-000123"})
    version = fields.Integer(required=True)
    stage = _one_of(values(Stage), required=True)
    risk_level = _one_of(values(RiskLevel), required=True)
    assigned_to = fields.String(required=True)
    is_child = fields.Boolean(required=True)
    survivor = fields.Nested(SurvivorView, required=True)
    caregiver = fields.Nested(CaregiverView, required=True, allow_none=True)
    unaccompanied = fields.Nested(UnaccompaniedView, required=True, allow_none=True)
    intake_notes = _text(required=True, allow_none=True)
    consent = fields.Nested(ConsentView, required=True, allow_none=True,
                            metadata={"description": "Null before consent is recorded, and on a closed case."})
    assessment = fields.Nested(AssessmentView, required=True, allow_none=True)
    plan = fields.Nested(PlanView, required=True)
    follow_up = fields.Nested(FollowUpView, required=True)
    closure = fields.Nested(ClosureView, required=True)
    monitoring = fields.Nested(MonitoringView, required=True, allow_none=True)
    conferences = fields.Integer(required=True, metadata={"description": "Case conferences held."})
    referrals = fields.List(fields.Nested(CaseReferralView), required=True)
    approvals = fields.List(fields.Nested(CaseApprovalView), required=True)
    erasure = fields.Nested(ErasureView, required=True, allow_none=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)


class ListedFollowUpView(Strict):
    next_due = _time(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)


class ListedCaseView(Strict):
    id = fields.UUID(required=True)
    case_number = fields.String(required=True)
    stage = _one_of(values(Stage), required=True)
    risk_level = _one_of(values(RiskLevel), required=True)
    assigned_to = fields.String(required=True)
    is_child = fields.Boolean(required=True)
    version = fields.Integer(required=True)
    follow_up = fields.Nested(ListedFollowUpView, required=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)


CasePage = _page(ListedCaseView, "CasePage")


class RecordedView(Strict):
    recorded = fields.Boolean(required=True)


# --- a case's audit trail -------------------------------------------------------------------------

class ActorView(Strict):
    username = fields.String(required=True, allow_none=True)
    role = fields.String(required=True, allow_none=True)


class HistoryItemView(Strict):
    """A link of the case's hash chain and the event it names; a link whose event is gone or no longer
    decrypts has no event fields, and says `missing` or `unreadable`."""
    sequence = fields.Integer(required=True)
    hash = fields.String(required=True)
    prev_hash = fields.String(required=True)
    type = fields.String(required=True, allow_none=True, metadata={"description": "The event's type."})
    occurred_at = _time()
    actor = fields.Nested(ActorView)
    correlation_id = fields.String(allow_none=True)
    stream = _one_of(("case", "consent", "access", "activity"))
    stream_version = fields.Integer()
    data = fields.Dict(metadata={"description": "The event's fields (identifying ones redacted for an auditor)."})
    missing = fields.Boolean(metadata={"description": "The stored event this link names is gone."})
    unreadable = fields.Boolean(metadata={"description": "The stored event no longer decrypts."})


HistoryPage = _page(HistoryItemView, "HistoryPage")


class ChangeView(Strict):
    """A case that changed in the caller's scope (`updated`: GET it) or left it (`left_scope`: drop it)."""
    case_id = fields.UUID(required=True)
    version = fields.Integer(required=True, metadata={"description": "The case file's ETag version; a case is "
                                                                     "listed again also when only its consent, "
                                                                     "referrals or approvals changed."})
    change = _one_of(("updated", "left_scope"), required=True)
    case_number = fields.String(metadata={"description": "With `updated` only."})


class ChangesPage(Strict):
    """A page of the changes feed, oldest change first."""
    items = fields.List(fields.Nested(ChangeView), required=True)
    next_cursor = fields.String(required=True, metadata={"description": "Always present: give it as `since` "
                                                                        "next time, even when nothing changed."})
    reset = fields.Boolean(required=True, metadata={"description": "The answer starts from nothing (no `since`, "
                                                                   "or the caller's scope changed since it was "
                                                                   "given): drop the local copy, then apply the "
                                                                   "items."})


class VerificationView(Strict):
    valid = fields.Boolean(required=True)
    events = fields.Integer(required=True)
    head_hash = fields.String(required=True, allow_none=True)
    first_bad_sequence = fields.Integer(metadata={"description": "Where the chain stops holding (when not valid)."})


class ExporterView(Strict):
    username = fields.String(required=True)
    role = _one_of(ROLES, required=True)


class SignatureView(Strict):
    algorithm = _one_of(("Ed25519",), required=True)
    key_id = fields.String(required=True)
    value = fields.String(required=True, metadata={"description": "Base64 signature over the canonical JSON of "
                                                                  "the bundle without its signature."})


class AuditBundleView(Strict):
    """A case's audit bundle, in canonical JSON (RFC 8785); check it offline with `casetrail-audit verify-bundle`."""
    format = _one_of(("casetrail-audit-bundle/1",), required=True)
    case_id = fields.UUID(required=True)
    case_number = fields.String(required=True, allow_none=True)
    exported_at = _time(required=True)
    exported_by = fields.Nested(ExporterView, required=True)
    verification = fields.Nested(VerificationView, required=True)
    head_hash = fields.String(required=True, allow_none=True)
    state = fields.Dict(required=True, metadata={"description": "The case's state, identifying fields redacted."})
    history = fields.List(fields.Nested(HistoryItemView), required=True)
    digests = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True,
                          metadata={"description": "sha256 of each part's canonical JSON."})
    signature = fields.Nested(SignatureView, required=True)


class PublicKeyView(Strict):
    key_id = fields.String(required=True)
    algorithm = _one_of(("Ed25519",), required=True)
    public_key = fields.String(required=True, metadata={"description": "Base64 of the raw 32-byte key."})
    public_key_pem = fields.String(required=True)
    current = fields.Boolean(required=True)


class PublicKeysView(Strict):
    keys = fields.List(fields.Nested(PublicKeyView), required=True,
                       metadata={"description": "The current key first, then retired ones."})


# --- approvals ------------------------------------------------------------------------------------

class ApprovalPolicyView(Strict):
    case_plan = _one_of(values(Rule), required=True)
    closure = _one_of(values(Rule), required=True)


class _ApprovalFields(Strict):
    """What every answer about an approval request names."""
    id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    case_number = fields.String(required=True)
    type = _one_of(values(Kind), required=True)
    requested_by = fields.String(required=True)
    status = _one_of(values(ApprovalStatus), required=True)


class ApprovalRequestView(_ApprovalFields):
    requested_at = _time(required=True)
    decided_by = fields.String(metadata={"description": "Once decided."})
    comment = fields.String(allow_none=True, metadata={"description": "The decision's comment, once decided."})


ApprovalPage = _page(ApprovalRequestView, "ApprovalPage")


class DecidedApprovalView(_ApprovalFields):
    decided_by = fields.String(required=True, allow_none=True)
    comment = fields.String(required=True, allow_none=True)


# --- referrals ------------------------------------------------------------------------------------

class ProviderView(Strict):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    service_types = fields.List(_one_of(SERVICE_TYPES), required=True)
    area = fields.String(required=True)
    contact = fields.String(required=True)


ProviderPage = _page(ProviderView, "ProviderPage")


class ReferralView(Strict):
    id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    case_number = fields.String(required=True)
    provider_id = fields.UUID(required=True)
    service_type = _one_of(SERVICE_TYPES, required=True)
    urgency = _one_of(values(Urgency), required=True)
    notes = _text("Null for a provider once the referral is withdrawn. ", required=True, allow_none=True)
    status = _one_of(values(ReferralStatus), required=True)
    reason = _text(required=True, allow_none=True)
    outcome = _text(required=True, allow_none=True)
    made_by = fields.String(required=True, allow_none=True)
    created_at = _time(required=True)
    updated_at = _time(required=True)


ReferralPage = _page(ReferralView, "ReferralPage")


# --- notifications and webhooks ----------------------------------------------------------------------

class NotificationView(Strict):
    id = fields.UUID(required=True)
    type = _one_of(NOTIFICATION_TYPES, required=True)
    case_id = fields.UUID(required=True, allow_none=True)
    case_number = fields.String(required=True, allow_none=True)
    message = fields.String(required=True, metadata={"description": "Carries the case number, never survivor data."})
    created_at = _time(required=True)
    read = fields.Boolean(required=True)


NotificationPage = _page(NotificationView, "NotificationPage")


class ReadStateView(Strict):
    id = fields.UUID(required=True)
    read = fields.Boolean(required=True)


class WebhookView(Strict):
    """A webhook as registered: never its secret."""
    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(_one_of(NOTIFICATION_TYPES), required=True)


class ListedWebhookView(WebhookView):
    registered_at = _time(required=True, allow_none=True)


WebhookPage = _page(ListedWebhookView, "WebhookPage")


class AttemptView(Strict):
    attempt = fields.Integer(required=True)
    at = fields.String(required=True)
    status_code = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)


class DeliveryView(Strict):
    id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"description": "pending, delivered or failed."})
    attempts = fields.List(fields.Nested(AttemptView), required=True)
    body = fields.Dict(required=True, metadata={"description": "What was (or is to be) sent, signed."})


DeliveryPage = _page(DeliveryView, "DeliveryPage")


class HealthView(Strict):
    status = _one_of(("ok",), required=True)
