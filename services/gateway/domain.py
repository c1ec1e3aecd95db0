"""People who use Casetrail. A user's id derives from the username, so usernames are unique."""
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited

ROLES = ("caseworker", "supervisor", "auditor", "provider", "admin")
_USER_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/users")


class User(Audited):

    @event("UserCreated")
    def __init__(self, username: str, password_hash: str, role: str, display_name: str,
                 supervisor: str | None, provider_id: str | None, email: str | None,
                 request_fingerprint: str, by: dict):
        self.username = username
        self.password_hash = password_hash
        self.role = role
        self.display_name = display_name
        self.supervisor = supervisor
        self.provider_id = provider_id
        self.email = email
        self.request_fingerprint = request_fingerprint
        self.team: list[str] = []
        self.email_notifications = True

    @staticmethod
    def create_id(username: str) -> UUID:
        return uuid5(_USER_NAMESPACE, username)

    @event("TeamMemberAdded")
    def add_to_team(self, caseworker: str, by: dict) -> None:
        self.team.append(caseworker)

    @event("EmailPreferenceChanged")
    def set_email_notifications(self, enabled: bool, by: dict) -> None:
        self.email_notifications = enabled

    @event("PasswordRehashed")
    def rehash_password(self, password_hash: str, by: dict) -> None:
        self.password_hash = password_hash
