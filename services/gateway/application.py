"""Identity's use cases: users created by an admin (with their passwords hashed by argon2), a user's
own preferences, logging in, the first admin, and the organisations users and cases belong to
(issue 19); and what the gateway publishes of them (who works here and for whom, never a password).
Each gets what it needs, decides (domain.py, policy.py) and saves."""
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.gateway import policy, queries
from services.gateway.domain import (
    Organisation,
    User,
    checked_supervisor,
    checked_supervisor_organisation,
    organisation_name,
    organisation_to_join,
    supervisor_to_find,
)
from shared.caller import Caller
from shared.errors import Conflict, InvalidInput
from shared.organisations import FIRST_ORGANISATION
from shared.store import ServiceStore, fingerprint, request_id
from shared.vocabulary import Role

SYSTEM = Caller(username="system", role=Role.SYSTEM).recorded()  # what the gateway itself records as `by`


def public_event(event) -> tuple[str, dict] | None:
    """Who works here and for whom, so other services can address people (staff, never survivors). No password."""
    if isinstance(event, User.UserCreated):
        return "UserRegistered", {"username": event.username, "role": event.role, "supervisor": event.supervisor,
                                  "provider_id": str(event.provider_id) if event.provider_id else None,
                                  "email": event.email}
    if isinstance(event, User.EmailPreferenceChanged):
        return "UserPreferencesChanged", {"username": event.by["username"], "email_notifications": event.enabled}
    return None


class Identity(ServiceStore):
    name = "gateway"
    hasher = PasswordHasher()

    def user(self, username: str) -> User | None:
        try:
            return self.repository.get(User.create_id(username))
        except AggregateNotFoundError:
            return None

    def create_user(self, caller: Caller, data: dict) -> User:
        policy.check(caller, policy.Administration.CREATE_USER)
        request = _fingerprint(data)
        existing = self.user(data["username"])
        if existing is not None:
            if existing.request_fingerprint == request and self._password_matches(existing, data["password"]):
                return existing  # the same request, retried
            raise Conflict("That username is taken.")
        organisation = organisation_to_join(data["role"], data.get("organisation"))
        if organisation is not None and self.organisation(UUID(organisation)) is None:
            raise InvalidInput({"organisation": ["No organisation has that id."]})
        named = supervisor_to_find(data["role"], data.get("supervisor"))
        supervisor = checked_supervisor(self.user(named)) if named else None
        if supervisor is not None:
            checked_supervisor_organisation(supervisor, organisation)
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
        if not self._password_matches(user, password):
            return None
        if self.hasher.check_needs_rehash(user.password_hash):
            user.rehash_password(self.hasher.hash(password), by=SYSTEM)
            self.save(user)
        return user

    def ensure_admin(self, username: str, password: str) -> bool:
        """Creates the first admin on first start; returns whether it did."""
        if self.user(username) is not None:
            return False
        admin = User(username=username, password_hash=self.hasher.hash(password), role=Role.ADMIN.value,
                     display_name="Administrator", supervisor=None, provider_id=None, email=None,
                     request_fingerprint="", by=SYSTEM)
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

    def organisations(self, after: int, limit: int) -> tuple[list[dict], int | None]:
        """A page of the organisations, oldest first, and the next page's cursor (None: the last page)."""
        return queries.organisations(self, after, limit)

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


def _fingerprint(data: dict) -> str:
    # The password is left out: an unsalted fast hash of it must not be stored.
    return fingerprint({k: v for k, v in data.items() if k != "password"})
