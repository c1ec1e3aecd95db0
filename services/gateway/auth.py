"""Authentication: access tokens (signed JWT) and the login throttle, and the two refusals they
raise (401, 429: errors.py)."""
import time
from collections import defaultdict, deque
from uuid import uuid4

import jwt

from shared.errors import CasetrailError


class Unauthorized(CasetrailError):
    """No, invalid or expired credentials."""


class TooManyAttempts(CasetrailError):
    def __init__(self, retry_after: int):
        super().__init__("Too many failed logins; try again later.")
        self.retry_after = retry_after


class Tokens:
    def __init__(self, secret: str, ttl_seconds: int):
        if len(secret) < 32:
            raise RuntimeError("JWT_SECRET must be at least 32 characters")
        self.secret, self.ttl_seconds = secret, ttl_seconds

    def issue(self, user) -> str:
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
