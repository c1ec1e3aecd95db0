"""Identity's use cases: users created by an admin (with their passwords hashed by argon2), a user's
own preferences, logging in, and the first admin; and what the gateway publishes of them (who works
here and for whom, never a password). Each gets what it needs, decides (domain.py, policy.py) and saves."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.gateway import policy
from services.gateway.domain import User, checked_supervisor, supervisor_to_find
from shared.caller import Caller
from shared.errors import Conflict
from shared.store import ServiceStore, fingerprint
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
        named = supervisor_to_find(data["role"], data.get("supervisor"))
        supervisor = checked_supervisor(self.user(named)) if named else None
        user = User(username=data["username"], password_hash=self.hasher.hash(data["password"]),
                    role=data["role"], display_name=data["display_name"],
                    supervisor=data.get("supervisor"), provider_id=data.get("provider_id"),
                    email=data.get("email"), request_fingerprint=request, by=caller.recorded())
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

    def _password_matches(self, user: User, password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _fingerprint(data: dict) -> str:
    # The password is left out: an unsalted fast hash of it must not be stored.
    return fingerprint({k: v for k, v in data.items() if k != "password"})
