"""People who use Casetrail. A user's id derives from the username, so usernames are unique. Pure: no I/O."""
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited
from shared.errors import InvalidInput
from shared.vocabulary import CASE_ROLES, Role

_USER_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/users")


class User(Audited):
    # Declared, not only named in @event, so that projections match them by class (issue 18.2).
    class UserCreated(Audited.Created):
        username: str
        password_hash: str
        role: str
        display_name: str
        supervisor: str | None
        provider_id: str | None
        email: str | None
        request_fingerprint: str
        by: dict

    class EmailPreferenceChanged(Audited.Event):
        enabled: bool

    @event(UserCreated)
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

    @event(EmailPreferenceChanged)
    def set_email_notifications(self, enabled: bool, by: dict) -> None:
        self.email_notifications = enabled

    @event("PasswordRehashed")
    def rehash_password(self, password_hash: str, by: dict) -> None:
        self.password_hash = password_hash


def supervisor_to_find(role: str, named: str | None) -> str | None:
    """The supervisor a new user of `role` is to have (`named` in the request), if any. A caseworker
    needs one; a supervisor may have one (who decides on their own plans and closures); no one else
    has one."""
    if role not in CASE_ROLES:
        if named:
            raise InvalidInput({"supervisor": ["Only a caseworker or a supervisor has a supervisor."]})
        return None
    if not named:
        if role == Role.SUPERVISOR:
            return None
        raise InvalidInput({"supervisor": ["A caseworker needs a supervisor."]})
    return named


def checked_supervisor(found: User | None) -> User:
    """The user found under the supervisor's name, if a supervisor it is."""
    if found is None or found.role != Role.SUPERVISOR:
        raise InvalidInput({"supervisor": ["No supervisor has that username."]})
    return found
