"""What the notifications service accepts: a webhook registration and the query parameters of its
lists (marshmallow; a refused field is 422 naming it), and where a webhook may point."""
from marshmallow import fields, validate

from services.notifications import destinations
from services.notifications.domain import TYPES
from services.notifications.settings import WebhookSettings
from shared.envelope import Strict
from shared.errors import InvalidInput
from shared.paging import PageSchema
from shared.text import Line, Url


class WebhookSchema(Strict):
    url = Url(required=True, schemes={"http", "https"}, require_tld=False)
    events = fields.List(Line(validate=validate.OneOf(TYPES)), required=True, validate=validate.Length(min=1))
    secret = Line(required=True, validate=validate.Length(min=16, max=200))


class InboxQuerySchema(PageSchema):
    unread = fields.Boolean(load_default=False)


class WebhookListQuerySchema(PageSchema):
    pass


def check_webhook_url(url: str, settings: WebhookSettings) -> None:
    """A URL that would reach inside is refused (422 on `url`); so is a name that does not resolve
    now, since what it resolves to cannot be checked. Looks the name up: run after the schema."""
    try:
        destinations.checked_target(url, settings.allowed_hosts, resolve_timeout=settings.resolve_timeout)
    except (destinations.Refused, destinations.Unresolved) as why:
        raise InvalidInput({"url": [str(why)]}) from None
