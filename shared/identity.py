"""Who a caller is, proved rather than claimed, on every RPC call.

The gateway, having checked a user's access token, sends the user's identity to a service as a
short-lived JWT signed with its own Ed25519 key (`<SERVICE>_CALLER_KEY`, which only that service
holds), bound to the one call: its audience is the service, its `call` the method, its `jti` used
once. A service that calls another service on a user's behalf signs the same way with its own key.
The receiving entrypoint (shared/rpc.py) verifies the token against the issuers' public keys
(`CALLER_PUBLIC_KEYS`) and the issuers the method accepts, before the method runs; a missing,
forged, expired, replayed or misdirected identity is refused (`CallerRefused`) and counted.

Replays are recognised per service instance, within a token's lifetime (`CALLER_TOKEN_SECONDS`,
default 30). A token travels only on the broker, where each service's user may read its own
queues alone: capturing one to replay it at another instance takes a service's broker secrets."""
import base64
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from prometheus_client import Counter

from shared.errors import CasetrailError
from shared.settings import CallerKeySettings, Environ

if TYPE_CHECKING:
    from shared.caller import Caller

ALGORITHM = "EdDSA"
CALLER_FIELDS = ("role", "team", "supervisor", "teammates", "provider_id", "correlation_id", "organisation")
REFUSED = Counter("casetrail_rpc_callers_refused_total",
                  "RPC calls refused because the caller's identity was missing, forged, expired, replayed,"
                  " meant for another call, or from an issuer the method does not accept",
                  ["service", "method", "reason"])


class CallerRefused(CasetrailError):
    """The caller's identity could not be verified; `reason` says which way (never the token)."""

    def __init__(self, reason: str):
        super().__init__(f"The caller's identity was refused ({reason}).")
        self.reason = reason


@dataclass(frozen=True)
class CallerKeys:
    """This service's signing key and every service's public key."""
    service: str
    signing: Ed25519PrivateKey | None
    public: Mapping[str, Ed25519PublicKey]
    lifetime: float = 30.0

    @classmethod
    def from_env(cls, service: str, environ: Environ | None = None) -> "CallerKeys":
        """From the environment (or a mapping like it), read now: for tools and tests."""
        return cls.from_settings(service, CallerKeySettings.for_service(service, environ))

    @classmethod
    def from_settings(cls, service: str, settings: CallerKeySettings) -> "CallerKeys":
        public = _public_keys(settings.public_keys)
        if not public:
            raise RuntimeError("environment variable CALLER_PUBLIC_KEYS is required (service=base64 public key,"
                               " comma-separated; `python -m shared.secrets` makes them)")
        own = settings.own_key
        return cls(service, _private_key(own, service) if own else None, public, settings.token_seconds)

    def sign(self, caller: "Caller", audience: str, method: str) -> str:
        """The caller's identity for one call of `audience.method`, signed as this service."""
        if self.signing is None:
            raise RuntimeError(f"{self.service.upper()}_CALLER_KEY is required to call other services")
        now = int(time.time())
        sent = caller.as_dict()
        claims = {"iss": self.service, "aud": audience, "call": method, "sub": caller.username,
                  "iat": now, "exp": now + int(self.lifetime), "jti": uuid.uuid4().hex,
                  **{field: sent[field] for field in CALLER_FIELDS if sent.get(field) is not None}}
        return jwt.encode(claims, self.signing, algorithm=ALGORITHM)


_KEYS: dict[str, CallerKeys] = {}


def keys_of(service: str, settings: CallerKeySettings) -> CallerKeys:
    """The service's keys, made once per process from the settings its first container started with."""
    if service not in _KEYS:
        _KEYS[service] = CallerKeys.from_settings(service, settings)
    return _KEYS[service]


class CallerCheck:
    """Verifies identities sent to one service; remembers the tokens it accepted until they expire."""

    def __init__(self, keys: CallerKeys, remembered: int = 100_000):
        self.keys, self.remembered = keys, remembered
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.lock = threading.Lock()

    def verify(self, token, method: str, issuers: tuple[str, ...]) -> dict:
        """The caller as a dict (what `shared.caller.read_caller` reads), or CallerRefused (counted)."""
        return self.verify_call(token, method, issuers)[0]

    def verify_call(self, token, method: str, issuers: tuple[str, ...]) -> tuple[dict, str]:
        """The caller, and the service that signed the call; or CallerRefused (counted)."""
        try:
            return self._verify(token, method, issuers)
        except CallerRefused as refused:
            REFUSED.labels(self.keys.service, method, refused.reason).inc()
            raise

    def _verify(self, token, method: str, issuers: tuple[str, ...]) -> tuple[dict, str]:
        if not isinstance(token, str) or token.count(".") != 2:
            raise CallerRefused("missing")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError:
            raise CallerRefused("malformed") from None
        key = self.keys.public.get(issuer) if isinstance(issuer, str) else None
        if key is None:
            raise CallerRefused("unknown issuer")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.keys.service, issuer=issuer,
                                options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]}, leeway=2)
        except jwt.ExpiredSignatureError:
            raise CallerRefused("expired") from None
        except jwt.InvalidAudienceError:
            raise CallerRefused("meant for another service") from None
        except jwt.InvalidTokenError:
            raise CallerRefused("forged") from None
        if claims.get("call") != method:
            raise CallerRefused("meant for another call")
        if issuer not in issuers:
            raise CallerRefused("issuer not accepted by this method")
        self._once(claims["jti"], claims["exp"])
        return {"username": claims["sub"], **{f: claims[f] for f in CALLER_FIELDS if f in claims}}, issuer

    def _once(self, jti: str, expires: float) -> None:
        now = time.time()
        with self.lock:
            while self.seen and (next(iter(self.seen.values())) < now or len(self.seen) > self.remembered):
                self.seen.popitem(last=False)
            if jti in self.seen:
                raise CallerRefused("replayed")
            self.seen[jti] = expires + 2


EVENTS_REFUSED = Counter("casetrail_events_refused_total",
                         "Bus events refused because the service named as their source does not own their type,"
                         " or their signature is missing or does not verify", ["service", "consumer", "reason"])


def sign_event(keys: CallerKeys, body: bytes) -> str:
    """A published event's signature (a message header): its source service vouches for the bytes."""
    if keys.signing is None:
        raise RuntimeError(f"{keys.service.upper()}_CALLER_KEY is required to publish events")
    return base64.b64encode(keys.signing.sign(body)).decode()


def event_refusal(keys: CallerKeys, body: bytes, signature, source, owner: str | None) -> str | None:
    """Why an event must not be believed, or None: its type has no owner, or another owner than the
    service named as its source, or the owner's signature over its bytes is missing or wrong."""
    if owner is None or source != owner:
        return "source does not own the event type"
    key = keys.public.get(owner)
    if key is None or not isinstance(signature, str):
        return "unsigned"
    try:
        key.verify(base64.b64decode(signature, validate=True), body)
    except (ValueError, InvalidSignature):
        return "bad signature"
    return None


def _private_key(value: str, service: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(value, validate=True))
    except ValueError:
        raise RuntimeError(f"{service.upper()}_CALLER_KEY is not the base64 of a 32-byte Ed25519 key") from None


def _public_keys(value: str) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        service, _, encoded = entry.partition("=")
        try:
            keys[service.strip()] = Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True))
        except ValueError:
            raise RuntimeError(f"CALLER_PUBLIC_KEYS: the key of {service.strip()!r} is not a base64"
                               " 32-byte Ed25519 public key") from None
    return keys


def generate(services) -> dict[str, str]:
    """A signing key per service, and the list of their public halves (for shared/secrets.py)."""
    values, public = {}, []
    for service in services:
        key = Ed25519PrivateKey.generate()
        values[f"{service.upper()}_CALLER_KEY"] = base64.b64encode(key.private_bytes_raw()).decode()
        public.append(f"{service}={base64.b64encode(key.public_key().public_bytes_raw()).decode()}")
    values["CALLER_PUBLIC_KEYS"] = ",".join(public)
    return values
