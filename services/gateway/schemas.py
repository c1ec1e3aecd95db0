"""What the gateway itself accepts; case bodies are validated by the cases service."""
import re

from marshmallow import fields, validate

from shared.envelope import Strict
from shared.paging import PageSchema
from shared.text import Email, Line
from shared.vocabulary import USER_ROLES

ROLES = tuple(role.value for role in USER_ROLES)  # who logs in
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
USERNAME = validate.Regexp(USERNAME_PATTERN,
                           error="3 to 64 characters: lowercase letters, digits, '.', '_' or '-'.")
PASSWORD = validate.Length(min=1, max=1024)  # the policy (domain.password_refusal) says the rest


class TokenRequestSchema(Strict):
    username = Line(required=True, validate=validate.Length(min=1, max=64))
    password = Line(required=True, validate=validate.Length(min=1, max=1024))


class CreateUserSchema(Strict):
    username = Line(required=True, validate=USERNAME)
    password = Line(required=True, validate=PASSWORD)
    role = Line(required=True, validate=validate.OneOf(ROLES))
    display_name = Line(required=True, validate=validate.Length(min=1, max=200))
    supervisor = Line(load_default=None, allow_none=True, validate=USERNAME)
    provider_id = fields.UUID(load_default=None, allow_none=True)
    email = Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    organisation = fields.UUID(load_default=None, allow_none=True)  # issue 19: default, the first one


class CreateOrganisationSchema(Strict):
    name = Line(required=True, validate=validate.Length(min=1, max=200))


class OrganisationPageSchema(PageSchema):
    """A page of the organisation list: `cursor` is the one the previous page gave."""


class UserPageSchema(PageSchema):
    """The user list's parameters, checked (422 naming the parameter)."""
    role = Line(validate=validate.OneOf(ROLES))
    organisation = fields.UUID()
    active = fields.Boolean(truthy={"true"}, falsy={"false"})


class ChangeUserSchema(Strict):
    """PATCH: only the fields given change."""
    display_name = Line(validate=validate.Length(min=1, max=200))
    email = Email(allow_none=True, validate=validate.Length(max=254))
    role = Line(validate=validate.OneOf(ROLES))
    supervisor = Line(allow_none=True, validate=USERNAME)
    provider_id = fields.UUID(allow_none=True)


class PasswordChangeSchema(Strict):
    current_password = Line(required=True, validate=PASSWORD)
    new_password = Line(required=True, validate=PASSWORD)


class RefreshSchema(Strict):
    refresh_token = Line(required=True, validate=validate.Length(min=1, max=200))


class UserListQuerySchema(Strict):
    role = Line()
    organisation = Line()
    active = Line()
    limit = Line()
    cursor = Line()


# Query parameters: the names each route takes. Values arrive as strings, each a single line; the
# service behind the route checks what they mean.
class NoQuery(Strict):
    """A route that takes no query parameters."""


class CaseListQuerySchema(Strict):
    stage = Line()
    risk_level = Line()
    assigned_to = Line()
    overdue = Line()
    case_number = Line()
    limit = Line()
    cursor = Line()


class ChangesQuerySchema(Strict):
    since = Line()
    limit = Line()


class CaseQuerySchema(Strict):
    as_of = Line()


class PageQuerySchema(Strict):
    limit = Line()
    cursor = Line()


class ProviderQuerySchema(PageQuerySchema):
    service_type = Line()
    area = Line()


class ApprovalQuerySchema(PageQuerySchema):
    status = Line()


class InboxQuerySchema(PageQuerySchema):
    unread = Line()


class PreferencesSchema(Strict):
    email_notifications = fields.Boolean(required=True)


class UserListFilterSchema(Strict):
    """GET /v1/users's parameters as the OpenAPI document shows them (queries.user_filters checks them)."""
    role = Line(validate=validate.OneOf(ROLES))
    organisation = fields.UUID()
    active = fields.Boolean()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = Line(validate=validate.Regexp(USERNAME_PATTERN), metadata={"description": "The next_cursor of the "
                                                                                         "previous page."})
