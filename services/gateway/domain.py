"""People who use Casetrail, and the organisations (agencies) they work for. A user's id derives from
the username, so usernames are unique. Pure: no I/O."""
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited
from shared.errors import InvalidInput
from shared.organisations import FIRST_ORGANISATION, organisation_or_first
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
        organisation: str | None = None  # issue 19: organisations. None: the admin, or made before them

    class EmailPreferenceChanged(Audited.Event):
        enabled: bool

    @event(UserCreated)
    def __init__(self, username: str, password_hash: str, role: str, display_name: str,
                 supervisor: str | None, provider_id: str | None, email: str | None,
                 request_fingerprint: str, by: dict, organisation: str | None = None):
        self.username = username
        # The admin belongs to none; a user made before organisations existed, to the first.
        self._organisation = organisation
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

    @property
    def organisation(self) -> str | None:
        """The organisation the user belongs to: none for the admin; the first one for a user
        made before organisations existed (whose events name none)."""
        if self.role == Role.ADMIN:
            return None
        return organisation_or_first(getattr(self, "_organisation", None))

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


def checked_supervisor_organisation(supervisor: User, organisation: str | None) -> None:
    """A supervisor is of the organisation of those they supervise: teams stay inside one."""
    if supervisor.organisation != organisation:
        raise InvalidInput({"supervisor": ["The supervisor belongs to another organisation."]})


def organisation_to_join(role: str, named: str | None) -> str | None:
    """The organisation a new user of `role` joins (`named` in the request, an id): the admin none,
    anyone else the one named, or the first organisation."""
    if role == Role.ADMIN:
        if named:
            raise InvalidInput({"organisation": ["The admin belongs to no organisation."]})
        return None
    return str(named) if named else str(FIRST_ORGANISATION)


class Organisation(Audited):
    """An agency: its users and its cases are its own; nothing of a case crosses to another
    organisation but a referral. The first one is created on the gateway's first start, under a
    fixed id (shared/organisations.py), so what was recorded before organisations is its own."""

    id: UUID

    class OrganisationCreated(Audited.Created):
        name: str
        request_hash: str
        by: dict

    @event(OrganisationCreated)
    def __init__(self, name: str, request_hash: str, by: dict):
        self.name = name
        self.request_hash = request_hash  # a retried create (same Idempotency-Key) is recognised


def organisation_name(name: str) -> str:
    """A name as kept: without surrounding spaces, and not empty."""
    name = name.strip()
    if not name:
        raise InvalidInput({"name": ["An organisation needs a name."]})
    return name
