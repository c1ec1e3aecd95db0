"""Cross-origin requests (../shared/api.md, Conventions): an origin listed in CORS_ORIGINS gets CORS
headers on every answer and its preflights answered; any other origin gets none, so a browser keeps
its page from reading anything. Clients authenticate with a bearer token, never a cookie: no answer
allows credentials, and an origin is matched exactly (scheme, host and port), never by pattern."""
import re
from dataclasses import dataclass

from werkzeug.wrappers import Response

ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key, X-Correlation-Id"
EXPOSED_HEADERS = "ETag, Location, X-Correlation-Id, Retry-After"
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer

_ORIGIN = re.compile(r"^https?://(?:[a-z0-9-]+\.)*[a-z0-9-]+(?::\d{1,5})?$")


@dataclass(frozen=True)
class CorsOrigins:
    """CORS_ORIGINS: the web clients' origins, each as a browser sends it (`https://app.example.org`,
    `http://127.0.0.1:8080`)."""

    origins: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, setting: str) -> "CorsOrigins":
        origins = {entry.strip().lower().rstrip("/") for entry in setting.split(",") if entry.strip()}
        wrong = sorted(origin for origin in origins if not _ORIGIN.match(origin))
        if wrong:  # "*" and "null" too: an origin is named, never matched by a wildcard
            raise RuntimeError(f"CORS_ORIGINS: not an origin (scheme://host[:port]): {', '.join(wrong)}")
        return cls(frozenset(origins))

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin in self.origins


def with_cors(response: Response, origin: str | None, allowed: CorsOrigins) -> Response:
    """Adds the headers a browser needs to hand `response` to a page of `origin`, if it is listed."""
    response.vary.add("Origin")  # caches must not give one origin's answer to another
    if origin is not None and allowed.allows(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def options_answer(methods: list[str], request, allowed: CorsOrigins) -> Response:
    """OPTIONS on a path that takes `methods`: 204 with Allow, and, for a listed origin's preflight,
    the methods and headers its page may use."""
    methods = sorted({*methods, "OPTIONS"} - {"HEAD"})
    response = Response(status=204, headers={"Allow": ", ".join(methods)})
    if allowed.allows(request.headers.get("Origin")) and "Access-Control-Request-Method" in request.headers:
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response
