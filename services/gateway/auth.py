"""Authentication: access tokens (signed JWT, each naming its session), sessions with rotating
refresh tokens, and the login throttle, and the refusals they raise (401, 403, 429: errors.py).
Sessions and failed logins are rows in the gateway's schema (services/gateway/migrations): every gateway
instance sees a logout, a deactivation or a lock at once."""
import hashlib
import secrets
import time
from dataclasses import dataclass
from uuid import UUID, uuid4

import jwt

from shared.errors import CasetrailError


class Unauthorized(CasetrailError):
    """No, invalid or expired credentials."""


class PasswordChangeRequired(CasetrailError):
    """The user's password was reset: they must set a new one before anything else."""


class TooManyAttempts(CasetrailError):
    def __init__(self, retry_after: int):
        super().__init__("Too many failed logins; try again later.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Claims:
    username: str
    session_id: str


class Tokens:
    def __init__(self, secret: str, ttl_seconds: int):
        if len(secret) < 32:
            raise RuntimeError("JWT_SECRET must be at least 32 characters")
        self.secret, self.ttl_seconds = secret, ttl_seconds

    def issue(self, user, session_id: UUID | str = "") -> str:
        now = int(time.time())
        claims = {"sub": user.username, "role": user.role, "sid": str(session_id), "iat": now,
                  "exp": now + self.ttl_seconds, "jti": str(uuid4())}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def read(self, token: str) -> Claims:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError:
            raise Unauthorized("The access token is invalid or expired.") from None
        return Claims(claims["sub"], str(claims.get("sid") or ""))

    def username(self, token: str) -> str:
        return self.read(token).username


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Sessions:
    """A session per login. The refresh token is `<session id>.<secret>`; only the secret's SHA-256 is
    kept. A refresh token works once: refreshing gives the session a new one. Presenting an old one
    again (a stolen copy, or a race of two refreshes) ends the session: whoever holds it must log in."""

    def __init__(self, store, refresh_seconds: int):
        self.store, self.refresh_seconds = store, refresh_seconds

    def start(self, username: str) -> tuple[UUID, str]:
        session_id, secret = uuid4(), secrets.token_urlsafe(32)
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("INSERT INTO {schema}.sessions (session_id, username, refresh_hash,"
                                        " expires_at) VALUES (%s, %s, %s, now() + make_interval(secs => %s))"),
                         (session_id, username, _digest(secret), self.refresh_seconds))
        return session_id, f"{session_id}.{secret}"

    def refresh(self, refresh_token: str) -> tuple[UUID, str, str]:
        """The session's id, its user and a new refresh token; Unauthorized for a token that does not
        work (and a reused one ends its session)."""
        session_id, secret = _parts(refresh_token)
        new_secret = secrets.token_urlsafe(32)
        with self.store.transaction() as curs:
            # One statement: of two refreshes racing with the same token, exactly one finds its hash.
            curs.execute(self.store.sql(
                "UPDATE {schema}.sessions SET refresh_hash = %s, refreshed_at = now(),"
                " expires_at = now() + make_interval(secs => %s)"
                " WHERE session_id = %s AND refresh_hash = %s AND ended_at IS NULL AND expires_at > now()"
                " RETURNING username"), (_digest(new_secret), self.refresh_seconds, session_id, _digest(secret)))
            row = curs.fetchone()
            if row is None:
                # Expired, ended, unknown, or a refresh token used before: whatever holds the session now
                # may be a thief, so the session ends.
                curs.execute(self.store.sql("UPDATE {schema}.sessions SET ended_at = now(),"
                                            " ended_why = 'refresh token reused'"
                                            " WHERE session_id = %s AND ended_at IS NULL"), (session_id,))
        if row is None:
            raise Unauthorized("The refresh token is invalid, expired or used; log in again.")
        return session_id, row["username"], f"{session_id}.{new_secret}"

    def active(self, session_id: str, username: str) -> bool:
        try:
            session = UUID(session_id)
        except ValueError:
            return False
        # One statement, so no transaction around it (autocommit): a round trip, not three.
        with self.store.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.store.sql("SELECT 1 FROM {schema}.sessions WHERE session_id = %s AND username = %s"
                                        " AND ended_at IS NULL AND expires_at > now()"), (session, username))
            return curs.fetchone() is not None

    def end(self, session_id: str, why: str = "logout") -> None:
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("UPDATE {schema}.sessions SET ended_at = now(), ended_why = %s"
                                        " WHERE session_id = %s AND ended_at IS NULL"), (why, UUID(session_id)))

    def end_all(self, username: str, why: str, but: str | None = None) -> None:
        """Ends every session of the user (but one, the caller's own, if given)."""
        with self.store.transaction() as curs:
            curs.execute(*self.ending_all(username, why, but))

    def ending_all(self, username: str, why: str, but: str | None = None) -> tuple:
        """The statement that ends every session of the user (but one): to commit with an event."""
        return (self.store.sql("UPDATE {schema}.sessions SET ended_at = now(), ended_why = %s"
                               " WHERE username = %s AND ended_at IS NULL AND session_id IS DISTINCT FROM %s"),
                (why, username, UUID(but) if but else None))


def _parts(refresh_token: str) -> tuple[UUID, str]:
    session_id, _, secret = refresh_token.partition(".")
    try:
        return UUID(session_id), secret
    except ValueError:
        raise Unauthorized("The refresh token is invalid, expired or used; log in again.") from None


class LoginThrottle:
    """Refuses logins for an account after `limit` failures within `window` seconds, and from a client
    address after `address_limit` (many accounts guessed from one place). Usernames that exist and
    usernames that do not are counted alike, so the answers never tell which exist. Kept in the
    database: every gateway instance counts the same failures."""

    def __init__(self, store, limit: int = 5, window: int = 900, address_limit: int = 50):
        self.store, self.limit, self.window, self.address_limit = store, limit, window, address_limit

    def check(self, username: str, address: str | None = None) -> None:
        keys = {_account(username): self.limit, **({_address(address): self.address_limit} if address else {})}
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(
                "SELECT key, failures, ceil(extract(epoch FROM window_start + make_interval(secs => %s) - now()))"
                " AS left FROM {schema}.login_failures WHERE key = ANY(%s)"
                " AND window_start > now() - make_interval(secs => %s)"), (self.window, list(keys), self.window))
            rows = curs.fetchall()
        waits = [int(row["left"]) for row in rows if row["failures"] >= keys[row["key"]]]
        if waits:
            raise TooManyAttempts(max(1, max(waits)))

    def failed(self, username: str, address: str | None = None) -> None:
        with self.store.transaction() as curs:
            for key in (_account(username), *((_address(address),) if address else ())):
                # A window starts at the first failure; one that has passed starts again.
                curs.execute(self.store.sql(
                    "INSERT INTO {schema}.login_failures VALUES (%s, 1, now()) ON CONFLICT (key) DO UPDATE SET"
                    " failures = CASE WHEN login_failures.window_start > now() - make_interval(secs => %s)"
                    " THEN login_failures.failures + 1 ELSE 1 END,"
                    " window_start = CASE WHEN login_failures.window_start > now() - make_interval(secs => %s)"
                    " THEN login_failures.window_start ELSE now() END"), (key, self.window, self.window))

    def succeeded(self, username: str) -> None:
        """A right password clears the account's count (not the address's: a guesser with an account
        of their own must not clear the count of their guesses at others)."""
        self.unlock(username)

    def unlock(self, username: str) -> None:
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("DELETE FROM {schema}.login_failures WHERE key = %s"), (_account(username),))


def _account(username: str) -> str:
    return "account:" + username


def _address(address: str) -> str:
    return "address:" + address
