"""Identity: users, passwords (argon2), access tokens (signed JWT), login throttling."""
import time
from collections import defaultdict, deque
from uuid import uuid4

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.gateway.domain import User
from shared.caller import recorded_by
from shared.errors import CasetrailError, Conflict, Forbidden, InvalidInput
from shared.store import ServiceStore, fingerprint

SYSTEM = {"username": "system", "role": "system", "correlation_id": None}


class Unauthorized(CasetrailError):
    """No, invalid or expired credentials."""


class TooManyAttempts(CasetrailError):
    def __init__(self, retry_after: int):
        super().__init__("Too many failed logins; try again later.")
        self.retry_after = retry_after


def public_event(event) -> tuple[str, dict] | None:
    """Who works here and for whom, so other services can address people (staff, never survivors). No password."""
    kind = type(event).__name__
    if kind == "UserCreated":
        return "UserRegistered", {"username": event.username, "role": event.role, "supervisor": event.supervisor,
                                  "provider_id": str(event.provider_id) if event.provider_id else None,
                                  "email": event.email}
    if kind == "EmailPreferenceChanged":
        return "UserPreferencesChanged", {"username": event.by["username"], "email_notifications": event.enabled}
    return None


class IdentityStore(ServiceStore):
    name = "gateway"
    hasher = PasswordHasher()

    def user(self, username: str) -> User | None:
        try:
            return self.repository.get(User.create_id(username))
        except AggregateNotFoundError:
            return None

    def create_user(self, caller: dict, data: dict) -> User:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin creates users.")
        fingerprint = _fingerprint(data)
        existing = self.user(data["username"])
        if existing is not None:
            if existing.request_fingerprint == fingerprint and self._password_matches(existing, data["password"]):
                return existing  # the same request, retried
            raise Conflict("That username is taken.")
        supervisor = self._supervisor_for(data)
        user = User(username=data["username"], password_hash=self.hasher.hash(data["password"]),
                    role=data["role"], display_name=data["display_name"],
                    supervisor=data.get("supervisor"), provider_id=data.get("provider_id"),
                    email=data.get("email"), request_fingerprint=fingerprint, by=recorded_by(caller))
        if supervisor is not None:
            supervisor.add_to_team(user.username, by=recorded_by(caller))
        try:
            self.save(user, supervisor)
        except IntegrityError:
            raise Conflict("That username is taken.") from None
        return user

    def set_preferences(self, caller: dict, preferences: dict) -> User:
        user = self.user(caller["username"])
        if user.email_notifications != preferences["email_notifications"]:
            user.set_email_notifications(preferences["email_notifications"], by=recorded_by(caller))
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
        admin = User(username=username, password_hash=self.hasher.hash(password), role="admin",
                     display_name="Administrator", supervisor=None, provider_id=None, email=None,
                     request_fingerprint="", by=SYSTEM)
        try:
            self.save(admin)
        except IntegrityError:
            return False  # another gateway instance created it first
        return True

    def _supervisor_for(self, data: dict) -> User | None:
        """A caseworker needs a supervisor; a supervisor may have one (who decides on their own
        plans and closures); no one else has one."""
        if data["role"] not in ("caseworker", "supervisor"):
            if data.get("supervisor"):
                raise InvalidInput({"supervisor": ["Only a caseworker or a supervisor has a supervisor."]})
            return None
        if not data.get("supervisor"):
            if data["role"] == "supervisor":
                return None
            raise InvalidInput({"supervisor": ["A caseworker needs a supervisor."]})
        supervisor = self.user(data["supervisor"])
        if supervisor is None or supervisor.role != "supervisor":
            raise InvalidInput({"supervisor": ["No supervisor has that username."]})
        return supervisor

    def _password_matches(self, user: User, password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _fingerprint(data: dict) -> str:
    # The password is left out: an unsalted fast hash of it must not be stored.
    return fingerprint({k: v for k, v in data.items() if k != "password"})


class Tokens:
    def __init__(self, secret: str, ttl_seconds: int):
        if len(secret) < 32:
            raise RuntimeError("JWT_SECRET must be at least 32 characters")
        self.secret, self.ttl_seconds = secret, ttl_seconds

    def issue(self, user: User) -> str:
        now = int(time.time())
        claims = {"sub": user.username, "role": user.role, "iat": now, "exp": now + self.ttl_seconds,
                  "jti": str(uuid4())}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def username(self, token: str) -> str:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError:
            raise Unauthorized("The access token is invalid or expired.") from None
        return claims["sub"]


class LoginThrottle:
    """Refuses logins for a username after `limit` failures within `window` seconds.
    Kept in memory: each gateway instance counts its own attempts."""

    def __init__(self, limit: int = 5, window: int = 900):
        self.limit, self.window = limit, window
        self.failures: dict[str, deque] = defaultdict(deque)

    def check(self, username: str) -> None:
        recent = self._recent(username)
        if len(recent) >= self.limit:
            raise TooManyAttempts(int(recent[0] + self.window - time.monotonic()) + 1)

    def failed(self, username: str) -> None:
        self._recent(username).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        self.failures.pop(username, None)

    def _recent(self, username: str) -> deque:
        recent = self.failures[username]
        while recent and recent[0] < time.monotonic() - self.window:
            recent.popleft()
        return recent
