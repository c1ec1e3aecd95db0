"""The notifications service's settings, read once when its container starts (shared/settings.py,
shared/configured.py); every variable is listed in README.md ("Configuration")."""
from dataclasses import dataclass

from services.notifications.destinations import AllowList
from shared.settings import Environ, Settings, env, integer, number


@dataclass(frozen=True)
class MailSettings:
    """E-mail notifications (mail.py)."""
    host: str  # SMTP_HOST; empty: no e-mail is sent
    port: int  # SMTP_PORT
    sender: str  # SMTP_FROM
    max_attempts: int  # EMAIL_MAX_ATTEMPTS
    first_delay: float  # EMAIL_RETRY_DELAY (seconds; doubles after each attempt)

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "MailSettings":
        return cls(host=env("SMTP_HOST", "", environ),
                   port=integer("SMTP_PORT", 25, environ, minimum=1, maximum=65535),
                   sender=env("SMTP_FROM", "casetrail@localhost", environ),
                   max_attempts=integer("EMAIL_MAX_ATTEMPTS", 10, environ, minimum=1),
                   first_delay=number("EMAIL_RETRY_DELAY", 10, environ, positive=True))


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook deliveries (webhooks.py) and where they may go (destinations.py)."""
    max_attempts: int  # WEBHOOK_MAX_ATTEMPTS
    first_delay: float  # WEBHOOK_RETRY_DELAY (seconds; doubles after each attempt)
    timeout: float  # WEBHOOK_TIMEOUT_SECONDS: one request
    allowed_hosts: AllowList  # WEBHOOK_ALLOWED_HOSTS
    resolve_timeout: float  # WEBHOOK_RESOLVE_TIMEOUT_SECONDS: one host name's lookup

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "WebhookSettings":
        return cls(max_attempts=integer("WEBHOOK_MAX_ATTEMPTS", 8, environ, minimum=1),
                   first_delay=number("WEBHOOK_RETRY_DELAY", 5, environ, positive=True),
                   timeout=number("WEBHOOK_TIMEOUT_SECONDS", 5, environ, positive=True),
                   allowed_hosts=AllowList.parse(env("WEBHOOK_ALLOWED_HOSTS", "", environ)),
                   resolve_timeout=number("WEBHOOK_RESOLVE_TIMEOUT_SECONDS", 3, environ, positive=True))


@dataclass(frozen=True)
class NotificationsSettings(Settings):
    escalation_scan_seconds: float  # ESCALATION_SCAN_SECONDS
    webhook_scan_seconds: float  # WEBHOOK_SCAN_SECONDS: how often due webhook deliveries and e-mails are sent
    mail: MailSettings
    webhooks: WebhookSettings

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "NotificationsSettings":
        return cls(**Settings.for_service("notifications", environ).plumbing(),
                   escalation_scan_seconds=number("ESCALATION_SCAN_SECONDS", 60, environ, positive=True),
                   webhook_scan_seconds=number("WEBHOOK_SCAN_SECONDS", 2, environ, positive=True),
                   mail=MailSettings.from_env(environ), webhooks=WebhookSettings.from_env(environ))
