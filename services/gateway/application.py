"""Identity's use cases: users created, listed, changed, deactivated and reactivated by an admin
(with their passwords hashed by argon2, and checked against the password policy), passwords changed
by their user or reset by an admin, a user's own preferences, logging in, the first admin, and the
organisations users and cases belong to (issue 19); and what the gateway publishes of them (who works
here and for whom, never a password). Each gets what it needs, decides (domain.py, policy.py) and
saves; a change that must end the user's sessions ends them in the same transaction as its event."""
import functools
import secrets
from collections.abc import Callable
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.gateway import policy, queries
from services.gateway.auth import Sessions
from services.gateway.domain import (
    CHANGEABLE,
    REACH,
    Organisation,
    User,
    check_password,
    checked_supervisor,
    checked_supervisor_organisation,
    organisation_name,
    organisation_to_join,
    provider_to_check,
    supervision_loop,
    supervisor_to_find,
)
from shared.caller import Caller
from shared.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from shared.organisations import FIRST_ORGANISATION
from shared.store import ServiceStore, fingerprint, request_id
from shared.vocabulary import CASE_ROLES, Role

# Whether a provider of the referral pathway exists (the referrals service knows).
ProviderExists = Callable[[str], bool]
# The open cases a user holds: {"open_cases": n, "case_numbers": [...]} (the cases service knows).
Caseload = Callable[[str], dict]

SYSTEM = Caller(username="system", role=Role.SYSTEM).recorded()  # what the gateway itself records as `by`


def public_event(event) -> tuple[str, dict] | None:
    """Who works here and for whom, so other services can address people (staff, never survivors). No password."""
    if isinstance(event, User.UserCreated):
        return "UserRegistered", {"username": event.username, "role": event.role, "supervisor": event.supervisor,
                                  "provider_id": str(event.provider_id) if event.provider_id else None,
                                  "email": event.email}
    if isinstance(event, User.EmailPreferenceChanged):
        return "UserPreferencesChanged", {"username": event.by["username"], "email_notifications": event.enabled}
    if isinstance(event, User.UserChanged):
        return "UserChanged", {"username": event.username, "role": event.role, "supervisor": event.supervisor,
                               "provider_id": event.provider_id, "email": event.email,
                               "changed": list(event.changed)}
    if isinstance(event, User.UserDeactivated):
        return "UserDeactivated", {"username": event.username}
    if isinstance(event, User.UserReactivated):
        return "UserReactivated", {"username": event.username}
    return None  # a password, its hash or its reset never leaves the gateway


class Identity(ServiceStore):
    name = "gateway"
    hasher = PasswordHasher()

    def user(self, username: str) -> User | None:
        try:
            return self.repository.get(User.create_id(username))
        except AggregateNotFoundError:
            return None

    @functools.cached_property
    def users(self) -> queries.Users:
        """This process's read-only copies of users, for finding who a request's caller is."""
        return queries.Users(self)

    @property
    def sessions(self) -> Sessions:
        return Sessions(self, refresh_seconds=0)  # only to end sessions: refresh tokens are issued elsewhere

    def create_user(self, caller: Caller, data: dict, provider_exists: ProviderExists) -> User:
        policy.check(caller, policy.Administration.CREATE_USER)
        request = _fingerprint(data)
        existing = self.user(data["username"])
        if existing is not None:
            if existing.request_fingerprint == request and self._password_matches(existing, data["password"]):
                return existing  # the same request, retried
            raise Conflict("That username is taken.")
        check_password(data["password"], data["username"], other_inputs=(data["display_name"],))
        organisation = organisation_to_join(data["role"], data.get("organisation"))
        if organisation is not None and self.organisation(UUID(organisation)) is None:
            raise InvalidInput({"organisation": ["No organisation has that id."]})
        named = supervisor_to_find(data["role"], data.get("supervisor"))
        supervisor = checked_supervisor(self.user(named)) if named else None
        if supervisor is not None:
            checked_supervisor_organisation(supervisor, organisation)
        provider_id = provider_to_check(data["role"], str(data["provider_id"]) if data.get("provider_id") else None)
        if provider_id and not provider_exists(provider_id):
            raise InvalidInput({"provider_id": ["No provider of the referral pathway has this id."]})
        user = User(username=data["username"], password_hash=self.hasher.hash(data["password"]),
                    role=data["role"], display_name=data["display_name"],
                    supervisor=data.get("supervisor"), provider_id=data.get("provider_id"),
                    email=data.get("email"), request_fingerprint=request, by=caller.recorded(),
                    organisation=organisation)
        if supervisor is not None:
            supervisor.add_to_team(user.username, by=caller.recorded())
        try:
            self.save(user, supervisor)
        except IntegrityError:
            raise Conflict("That username is taken.") from None
        return user

    def read_user(self, caller: Caller, username: str) -> User:
        policy.check(caller, policy.Administration.READ_USERS)
        return self._existing(username)

    def team(self, caller: Caller) -> list[User]:
        """The active members of the supervisor's team in username order: whom the cases service lets them
        reassign a case to (the caller's `team`, as it is sent with every call), a deactivated one aside."""
        policy.check_team_reader(caller)
        members = [self.user(username) for username in sorted(caller.team)]
        return [member for member in members if member is not None and member.active]

    def check_reassignable(self, caller: Caller, body: object) -> None:
        """A case goes only to someone who can sign in. A deactivated caseworker stays in their supervisor's
        team (whose cases the supervisor still reads, reopens or erases), so the cases service, which knows
        the team, cannot tell: the gateway, which knows who is active, refuses them here."""
        named = body.get("caseworker") if isinstance(body, dict) else None
        if isinstance(named, str) and named in caller.team and (user := self.user(named)) and not user.active:
            raise InvalidTransition(f"{named} is deactivated and cannot sign in: reassign the case to an active "
                                    f"member of your team (GET /v1/team).")

    def list_users(self, caller: Caller, filters: dict) -> tuple[list[dict], str | None]:
        policy.check(caller, policy.Administration.READ_USERS)
        return queries.list_users(self, filters)

    def change_user(self, caller: Caller, username: str, data: dict, provider_exists: ProviderExists,
                    caseload: Caseload) -> User:
        """An admin's change of a user's staff data. A change of role or supervisor ends the user's
        sessions, and keeps the supervisors' teams true."""
        policy.check(caller, policy.Administration.CHANGE_USER)
        user = self._existing(username)
        before = user.details()
        after = {**before, **{k: (str(v) if k == "provider_id" and v else v) for k, v in data.items()}}
        if after["role"] != before["role"]:
            # A role that has none drops what the old role had, unless the request names it (then: 422).
            if after["role"] not in CASE_ROLES and "supervisor" not in data:
                after["supervisor"] = None
            if after["role"] != Role.PROVIDER and "provider_id" not in data:
                after["provider_id"] = None
        changed = [field for field in CHANGEABLE if after[field] != before[field]]
        if not changed:
            return user
        if "role" in changed and username == caller.username:
            raise Conflict("An admin cannot change their own role; another admin can.")
        by = caller.recorded()
        old_supervisor = new_supervisor = None
        if "role" in changed:
            self._may_leave_role(user, after["role"], caseload)
        if "supervisor" in changed or "role" in changed:
            named = supervisor_to_find(after["role"], after["supervisor"])
            if named is not None:
                if named == username or supervision_loop(username, named, self._supervisor_of):
                    raise InvalidInput({"supervisor": ["No one may supervise themselves, directly or up a chain."]})
                new_supervisor = checked_supervisor(self.user(named)) if "supervisor" in changed else None
                if new_supervisor is not None:  # teams stay inside an organisation (issue 19)
                    checked_supervisor_organisation(new_supervisor, user.organisation)
        if "provider_id" in changed or "role" in changed:
            provider_id = provider_to_check(after["role"], after["provider_id"])
            if provider_id and "provider_id" in changed and not provider_exists(provider_id):
                raise InvalidInput({"provider_id": ["No provider of the referral pathway has this id."]})
        if "supervisor" in changed:
            if before["supervisor"] and (old := self.user(before["supervisor"])) and username in old.team:
                old.remove_from_team(username, by=by)
                old_supervisor = old
            if new_supervisor is not None:
                new_supervisor.add_to_team(username, by=by)
        user.change(changed=changed, by=by, **{field: after[field] for field in CHANGEABLE})
        ending = [self.sessions.ending_all(username, "role or supervisor changed")] if set(changed) & set(REACH) else []
        self._save_or_conflict(user, old_supervisor, new_supervisor, statements=ending)
        return user

    def deactivate(self, caller: Caller, username: str, caseload: Caseload) -> User:
        """From now on the user cannot log in and their tokens are refused. Not while they hold open
        cases or supervise active users: the refusal says what to move first."""
        policy.check(caller, policy.Administration.DEACTIVATE_USER)
        user = self._existing(username)
        if not user.active:
            return user
        if username == caller.username:
            raise Conflict("An admin cannot deactivate themselves; another admin can.")
        supervised = [member for member in user.team if (found := self.user(member)) is not None and found.active]
        if supervised:
            raise Conflict(f"{username} supervises active users ({', '.join(sorted(supervised))}): give them "
                           f"another supervisor first (PATCH /v1/users/<username>).")
        self._holds_no_open_case(user, caseload, "deactivating them")
        user.deactivate(by=caller.recorded())
        self._save_or_conflict(user, statements=[self.sessions.ending_all(username, "deactivated")])
        return user

    def reactivate(self, caller: Caller, username: str) -> User:
        policy.check(caller, policy.Administration.REACTIVATE_USER)
        user = self._existing(username)
        if user.active:
            return user
        if user.role == Role.CASEWORKER and user.supervisor:
            found = self.user(user.supervisor)
            if found is None or not found.active or found.role != Role.SUPERVISOR:
                raise Conflict(f"{username}'s supervisor {user.supervisor} is no longer an active supervisor: "
                               f"give them another supervisor first (PATCH /v1/users/{username}).")
        user.reactivate(by=caller.recorded())
        self._save_or_conflict(user)
        return user

    def change_password(self, caller: Caller, current: str, new: str) -> User:
        """The caller's own password. Ends the user's other sessions."""
        user = self._existing(caller.username)
        if not self._password_matches(user, current):
            raise WrongPassword({"current_password": ["This is not your current password."]})
        check_password(new, user.username, "new_password", other_inputs=(user.display_name,))
        if self._password_matches(user, new):
            raise InvalidInput({"new_password": ["Choose a password other than the current one."]})
        user.set_password(self.hasher.hash(new), by=caller.recorded())
        session = caller.extra.get("session_id")
        self._save_or_conflict(user, statements=[self.sessions.ending_all(user.username, "password changed",
                                                                          but=session)])
        return user

    def reset_password(self, caller: Caller, username: str) -> str:
        """A temporary password, good only for the user to set their own; every session of theirs ends."""
        policy.check(caller, policy.Administration.RESET_PASSWORD)
        user = self._existing(username)
        temporary = secrets.token_urlsafe(15)  # 20 characters, 120 random bits
        user.reset_password(self.hasher.hash(temporary), by=caller.recorded())
        self._save_or_conflict(user, statements=[self.sessions.ending_all(username, "password reset")])
        return temporary

    def _existing(self, username: str) -> User:
        user = self.user(username)
        if user is None:
            raise NotFound("No such user.")
        return user

    def _supervisor_of(self, username: str) -> str | None:
        found = self.user(username)
        return found.supervisor if found is not None else None

    def _may_leave_role(self, user: User, role: str, caseload: Caseload) -> None:
        if user.role == Role.SUPERVISOR and user.team:
            raise Conflict(f"{user.username} supervises {', '.join(sorted(user.team))}: give them another "
                           f"supervisor first (PATCH /v1/users/<username>).")
        if user.role in CASE_ROLES and role not in CASE_ROLES:
            self._holds_no_open_case(user, caseload, "changing their role")

    @staticmethod
    def _holds_no_open_case(user: User, caseload: Caseload, before: str) -> None:
        if user.role not in CASE_ROLES:
            return
        held = caseload(user.username)
        if held["open_cases"]:
            shown = ", ".join(held["case_numbers"])
            more = " and more" if held["open_cases"] > len(held["case_numbers"]) else ""
            raise Conflict(f"{user.username} is the caseworker of {held['open_cases']} open case(s) ({shown}{more}): "
                           f"their supervisor reassigns them (POST /v1/cases/<id>/reassign) before {before}.")

    def _save_or_conflict(self, *aggregates, **kwargs) -> None:
        try:
            self.save(*aggregates, **kwargs)
        except IntegrityError:
            raise Conflict("The user was changed meanwhile; read them again and retry.") from None

    def set_preferences(self, caller: Caller, preferences: dict) -> User:
        user = self.user(caller.username)
        assert user is not None  # the caller was read from this store a moment ago
        if user.email_notifications != preferences["email_notifications"]:
            user.set_email_notifications(preferences["email_notifications"], by=caller.recorded())
            self.save(user)
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.user(username)
        if user is None:
            self.hasher.hash(password)  # same work either way: no telling which usernames exist
            return None
        if not self._password_matches(user, password) or not user.active:
            return None
        if self.hasher.check_needs_rehash(user.password_hash):
            user.rehash_password(self.hasher.hash(password), by=SYSTEM)
            self.save(user)
        return user

    def ensure_admin(self, username: str, password: str, must_change: bool = False) -> bool:
        """Creates the first admin on first start; returns whether it did. `must_change`: the password
        is one anybody could know (the default), good only to set a new one."""
        if self.user(username) is not None:
            return False
        admin = User(username=username, password_hash=self.hasher.hash(password), role=Role.ADMIN.value,
                     display_name="Administrator", supervisor=None, provider_id=None, email=None,
                     request_fingerprint="", by=SYSTEM)
        if must_change:
            admin.reset_password(admin.password_hash, by=SYSTEM)
        try:
            self.save(admin)
        except IntegrityError:
            return False  # another gateway instance created it first
        return True

    # --- organisations (issue 19) ---------------------------------------------------------------

    def organisation(self, organisation_id: UUID) -> Organisation | None:
        try:
            found: object = self.repository.get(organisation_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Organisation) else None

    def organisations(self, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """A page of the organisations, oldest first, and the next page's cursor (None: the last page)."""
        return queries.organisations(self, cursor, limit)

    def create_organisation(self, caller: Caller, data: dict, idempotency_key: str | None) -> Organisation:
        """A new organisation, its name unique (409 otherwise, whatever its case). With an
        Idempotency-Key, a retry of the same request gets the organisation first created."""
        policy.check(caller, policy.Administration.CREATE_ORGANISATION)
        name, request = organisation_name(data["name"]), fingerprint({"name": data["name"]})
        organisation_id = request_id(Organisation, caller.username, idempotency_key) if idempotency_key else uuid4()
        if idempotency_key and (first := self._first_version(organisation_id, request)):
            return first
        organisation = Organisation(id=organisation_id, name=name, request_hash=request,  # type: ignore[call-arg]
                                    by=caller.recorded())
        try:
            self.save(organisation, statements=[self.listing(organisation)])
        except IntegrityError:
            if idempotency_key and (first := self._first_version(organisation_id, request)):
                return first  # the same request, retried concurrently
            raise Conflict("An organisation of that name exists.") from None
        return organisation

    def listing(self, organisation: Organisation):
        """What lists a new organisation, saved with its creation (tests/memory.py: in memory)."""
        return queries.organisation_row(self, organisation)

    def ensure_first_organisation(self, name: str) -> bool:
        """Creates the first organisation on first start (under its fixed id, so that what was
        recorded before organisations is its own); returns whether it did."""
        if self.organisation(FIRST_ORGANISATION) is not None:
            return False
        first = Organisation(id=FIRST_ORGANISATION, name=organisation_name(name), request_hash="",  # type: ignore[call-arg]
                             by=SYSTEM)
        try:
            self.save(first, statements=[self.listing(first)])
        except IntegrityError:
            return False  # another gateway instance created it first (or an organisation took the name)
        return True

    def _password_matches(self, user: User, password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class WrongPassword(InvalidInput):
    """The current password given to change it is wrong (422; counted by the login throttle)."""


def _fingerprint(data: dict) -> str:
    # The password is left out: an unsalted fast hash of it must not be stored.
    return fingerprint({k: v for k, v in data.items() if k != "password"})
