"""What the gateway itself accepts; case bodies are validated by the cases service."""
from marshmallow import fields, validate

from services.gateway.domain import ROLES
from shared.envelope import Strict

USERNAME = validate.Regexp(r"^[a-z0-9][a-z0-9._-]{2,63}$",
                           error="3 to 64 characters: lowercase letters, digits, '.', '_' or '-'.")


class TokenRequestSchema(Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class CreateUserSchema(Strict):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=validate.Length(min=12, max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    supervisor = fields.String(load_default=None, allow_none=True, validate=USERNAME)
    provider_id = fields.UUID(load_default=None, allow_none=True)
    email = fields.Email(load_default=None, allow_none=True)


class CaseListQuerySchema(Strict):
    """Query parameters arrive as strings; the cases service checks their values."""
    stage = fields.String()
    risk_level = fields.String()
    assigned_to = fields.String()
    overdue = fields.String()
    limit = fields.String()
    cursor = fields.String()


class PreferencesSchema(Strict):
    email_notifications = fields.Boolean(required=True)
