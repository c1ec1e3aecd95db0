"""People who use Casetrail, and the organisations (agencies) they work for. A user's id derives from
the username, so usernames are unique. Pure: no I/O."""
from collections.abc import Callable
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

    class UserChanged(Audited.Event):
        """Staff data after an admin's change (never a password): `changed` names what changed."""
        username: str
        changed: list
        display_name: str
        email: str | None
        role: str
        supervisor: str | None
        provider_id: str | None

    class UserDeactivated(Audited.Event):
        username: str

    class UserReactivated(Audited.Event):
        username: str

    class PasswordChanged(Audited.Event):
        password_hash: str

    class PasswordReset(Audited.Event):
        """A temporary password set by an admin: good only to set a new one."""
        password_hash: str

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
        self.active = True
        self.password_change_required = False

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

    @event("TeamMemberRemoved")
    def remove_from_team(self, member: str, by: dict) -> None:
        self.team.remove(member)

    @event("PasswordRehashed")
    def rehash_password(self, password_hash: str, by: dict) -> None:
        self.password_hash = password_hash

    def change(self, changed: list, by: dict, **details) -> None:
        self._changed(username=self.username, changed=changed, by=by, **details)

    @event(UserChanged)
    def _changed(self, username: str, changed: list, display_name: str, email: str | None, role: str,
                 supervisor: str | None, provider_id: str | None, by: dict) -> None:
        self.display_name, self.email, self.role = display_name, email, role
        self.supervisor, self.provider_id = supervisor, provider_id

    def deactivate(self, by: dict) -> None:
        self._deactivated(username=self.username, by=by)

    @event(UserDeactivated)
    def _deactivated(self, username: str, by: dict) -> None:
        self.active = False

    def reactivate(self, by: dict) -> None:
        self._reactivated(username=self.username, by=by)

    @event(UserReactivated)
    def _reactivated(self, username: str, by: dict) -> None:
        self.active = True

    @event(PasswordChanged)
    def set_password(self, password_hash: str, by: dict) -> None:
        self.password_hash = password_hash
        self.password_change_required = False

    @event(PasswordReset)
    def reset_password(self, password_hash: str, by: dict) -> None:
        self.password_hash = password_hash
        self.password_change_required = True

    def details(self) -> dict:
        """What an admin may change, as it is now."""
        return {"display_name": self.display_name, "email": self.email, "role": self.role,
                "supervisor": self.supervisor, "provider_id": str(self.provider_id) if self.provider_id else None}


CHANGEABLE = ("display_name", "email", "role", "supervisor", "provider_id")
# A change of these changes what the user may reach: their sessions end.
REACH = ("role", "supervisor")


def provider_to_check(role: str, provider_id: str | None) -> str | None:
    """The provider a user of `role` is to act for, which must exist (the caller asks the referrals
    service). A provider user needs one; no other role has one."""
    if role == Role.PROVIDER:
        if not provider_id:
            raise InvalidInput({"provider_id": ["A provider user needs the id of an existing provider."]})
        return provider_id
    if provider_id:
        raise InvalidInput({"provider_id": ["Only a provider user acts for a provider."]})
    return None


def supervision_loop(username: str, supervisor: str, supervisor_of: Callable[[str], str | None]) -> bool:
    """Whether making `supervisor` the supervisor of `username` would make someone their own
    supervisor (directly or up a chain)."""
    seen: set[str] = set()
    current: str | None = supervisor
    while current is not None and current not in seen:
        if current == username:
            return True
        seen.add(current)
        current = supervisor_of(current)
    return False


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
    """The user found under the supervisor's name, if an active supervisor it is."""
    if found is None or found.role != Role.SUPERVISOR or not found.active:
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
MIN_PASSWORD_LENGTH = 12
# zxcvbn (Dropbox's estimator, with its published lists of common passwords, names and words) scores
# a password 0-4; below 3 it is guessable in under 10^8 tries: a common password or a small change of
# one. It reads at most its own limit of characters; a longer password is judged by its start.
MIN_PASSWORD_SCORE = 3
_ZXCVBN_MAX = 72


def password_refusal(password: str, username: str, other_inputs: tuple[str, ...] = ()) -> str | None:
    """Why a password may not be used, or None: at least 12 characters, not containing the
    username, not a commonly used password (nor an easy variation of one)."""
    from zxcvbn import zxcvbn  # its lists load on first use

    if len(password) < MIN_PASSWORD_LENGTH:
        return f"At least {MIN_PASSWORD_LENGTH} characters."
    if username and username.lower() in password.lower():
        return "A password may not contain the username."
    judged = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=[username, *other_inputs], max_length=_ZXCVBN_MAX)
    if judged["score"] < MIN_PASSWORD_SCORE:
        return "Too easy to guess: a commonly used password, or close to one. Try a few unrelated words."
    return None


def check_password(password: str, username: str, field: str = "password",
                   other_inputs: tuple[str, ...] = ()) -> None:
    if (why := password_refusal(password, username, other_inputs)) is not None:
        raise InvalidInput({field: [why]})
