"""Idempotency-Key on the POST routes the gateway answers itself (sign-in, sessions, users,
organisations; the services' routes are remembered by each service, with the record they change).

The first request with a key claims (scope, key) with its fingerprint, runs, and keeps its answer
(status, body, ETag and Location), sealed: a login's or a refresh's answer holds tokens, a password
reset's a temporary password, and none is kept readable in the database. A retry with the same key
and the same request gets that answer and changes nothing; with another request, 409. A retry racing
the first waits for its answer. A refused or failed request keeps nothing: it may be retried as new.

Fingerprints are keyed (HMAC): a body holds a password or a refresh token, and a plain hash of one
could be tried against guesses. Both keys derive from the gateway's cipher key, never in the database.
The scope is who may see the answer: the signed-in user; for a login the username and password; for
a refresh the refresh token (each as an HMAC), so nobody else's request ever replays it."""
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import eventlet
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.wrappers import Response

from shared.errors import Conflict
from shared.keys import derived_key
from shared.store import ServiceStore

RETENTION_SECONDS = 24 * 3600  # how long a key is remembered (README "Idempotency")
REPLAYED_HEADERS = ("ETag", "Location")


@dataclass(frozen=True)
class Scope:
    """Whose answer it is: only the same scope ever gets it back."""
    value: str


class Answers:
    def __init__(self, store: ServiceStore, secret: str, pending_seconds: float):
        """`pending_seconds`: how long a first request may run (the request deadline); a claim older
        than that was abandoned (its process stopped) and the next retry runs the request anew."""
        self.store, self.pending_seconds = store, pending_seconds
        self._mac_key = derived_key(secret, b"casetrail idempotency fingerprint")
        self._sealing = AESGCM(derived_key(secret, b"casetrail idempotency answer"))

    def mac(self, *parts) -> str:
        return hmac.new(self._mac_key, json.dumps(parts, sort_keys=True, default=str).encode(),
                        hashlib.sha256).hexdigest()

    def user(self, username: str) -> Scope:
        return Scope(f"user:{username}")

    def session(self, session_id: str) -> Scope:
        """A logout's: each session's logout is a request of its own, whoever's sessions they are."""
        return Scope(f"session:{session_id}")

    def login(self, username: str, password: str) -> Scope:
        return Scope(f"login:{self.mac('login', username, password)}")

    def refresh(self, refresh_token: str) -> Scope:
        return Scope(f"refresh:{self.mac('refresh', refresh_token)}")

    def once(self, scope: Scope, key: str | None, request, run: Callable[[], Response]) -> Response:
        """`run()`'s response, or, for a retry with `key`, the first one's."""
        if key is None:
            return run()
        fingerprint = self.mac(request)
        first = self._claim(scope, key, fingerprint)
        if first is not None:
            return first
        try:
            response = run()
        except BaseException:  # a refusal, a failure, the deadline: nothing to remember
            self._release(scope, key)
            raise
        if response.status_code < 300:
            self._keep(scope, key, response)
        else:
            self._release(scope, key)
        return response

    def _claim(self, scope: Scope, key: str, fingerprint: str) -> Response | None:
        """None: the request is this one's to run. Else the first answer (waiting for it while the
        first request runs), or Conflict for a key that named another request."""
        waited_until = time.monotonic() + self.pending_seconds / 2
        while True:
            with self.store.transaction() as curs:
                curs.execute(self.store.sql(
                    "DELETE FROM {schema}.idempotent_answers WHERE created_at < now() - make_interval(secs => %s)"
                    " OR (scope = %s AND key = %s AND status IS NULL"
                    " AND created_at < now() - make_interval(secs => %s))"),
                    (RETENTION_SECONDS, scope.value, key, self.pending_seconds))
                curs.execute(self.store.sql(
                    "INSERT INTO {schema}.idempotent_answers (scope, key, fingerprint) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING key"), (scope.value, key, fingerprint))
                if curs.fetchone() is not None:
                    return None
                curs.execute(self.store.sql("SELECT fingerprint, status, answer FROM {schema}.idempotent_answers"
                                            " WHERE scope = %s AND key = %s"), (scope.value, key))
                row = curs.fetchone()
            if row is None:
                continue  # released meanwhile: claim it again
            if not hmac.compare_digest(row["fingerprint"], fingerprint):
                raise Conflict("This Idempotency-Key was used for a different request.")
            if row["status"] is not None:
                return self._opened(scope, key, row["status"], row["answer"])
            if time.monotonic() > waited_until:
                raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
            eventlet.sleep(0.05)

    def _keep(self, scope: Scope, key: str, response: Response) -> None:
        answer = {"body": response.get_data(as_text=True), "content_type": response.content_type,
                  "headers": {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}}
        nonce = os.urandom(12)
        sealed = nonce + self._sealing.encrypt(nonce, json.dumps(answer).encode(), self._bound(scope, key))
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("UPDATE {schema}.idempotent_answers SET status = %s, answer = %s"
                                        " WHERE scope = %s AND key = %s"),
                         (response.status_code, sealed, scope.value, key))

    def _opened(self, scope: Scope, key: str, status: int, sealed: bytes) -> Response:
        try:
            answer = json.loads(self._sealing.decrypt(sealed[:12], sealed[12:], self._bound(scope, key)))
        except InvalidTag:  # sealed under a cipher key since replaced: the answer is lost
            raise Conflict("This Idempotency-Key was used before and its answer is no longer kept; use a new key.") \
                from None
        return Response(answer["body"] or None, status=status, content_type=answer["content_type"],
                        headers=answer["headers"])

    def _release(self, scope: Scope, key: str) -> None:
        with self.store.transaction() as curs:
            curs.execute(self.store.sql("DELETE FROM {schema}.idempotent_answers WHERE scope = %s AND key = %s"
                                        " AND status IS NULL"), (scope.value, key))

    @staticmethod
    def _bound(scope: Scope, key: str) -> bytes:
        """What a sealed answer is bound to: moved to another row, it does not open."""
        return json.dumps([scope.value, key]).encode()
