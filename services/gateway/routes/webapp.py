"""The web app (issue 21, web/README.md): the gateway serves its shell at `/` and its files under `/app/`,
from the same origin as the API, so the app needs no CORS and its service worker can keep the shell offline.
Only files of the app folder with a known type are served; anything else under `/app/` is a problem+json 404
like every unknown path. Every file is revalidated (`no-cache` with an ETag), never trusted stale: the
service worker, not the HTTP cache, is what keeps the shell usable offline. The app's pages may run only
the app's own scripts (Content-Security-Policy: no inline script, no other origin)."""
import hashlib
from functools import cache
from pathlib import Path

from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from services.gateway.apidoc import doc
from services.gateway.http import refuse_unknown_route, route
from services.gateway.routes.base import Gateway
from shared.errors import NotFound

APP_DIR = Path(__file__).resolve().parents[3] / "web" / "app"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # ES modules need a JavaScript type
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
    "connect-src 'self'", "manifest-src 'self'", "worker-src 'self'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'"))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# The service worker lives under /app/ but controls the whole origin (the shell is at /).
SERVICE_WORKER = "sw.js"


@cache
def _read(path: Path, modified: float) -> tuple[bytes, str]:
    """A file's bytes and its ETag (a hash of them); `modified` makes an edited file read again."""
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def app_file(request, name: str) -> Response:
    """The app's file `name` (a path inside web/app/), or 404."""
    joined = safe_join(str(APP_DIR), name)
    path = Path(joined) if joined else None
    if path is None or path.suffix not in TYPES or not path.is_file() or any(
            part.startswith(".") for part in path.relative_to(APP_DIR).parts):
        raise NotFound("No such resource.")
    data, etag = _read(path, path.stat().st_mtime)
    headers = {"ETag": etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    if name == SERVICE_WORKER:
        headers["Service-Worker-Allowed"] = "/"
    if etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        return Response(status=304, headers=headers)
    return Response(data, status=200, content_type=TYPES[path.suffix], headers=headers)


class WebAppRoutes(Gateway):
    """The web app for caseworkers, supervisors, providers, auditors and admins: its shell and files, served
    from the same origin as the API (web/README.md). Not part of the API: no login, revalidated with an ETag."""
    tag = "web app"

    @doc("The web app's shell (HTML); it runs in the browser and uses only this API", media_type="text/html")
    @route("GET", "/", authenticated=False, cacheable=True, every_method=True)
    def web_app(self, request):
        if request.method not in ("GET", "HEAD"):
            refuse_unknown_route(type(self), request)
        return app_file(request, "index.html")

    @doc("A file of the web app (its scripts, styles, translations, service worker), with the Content-Type of "
         "its kind; unknown files are 404",
         media_type="application/octet-stream")
    @route("GET", "/app/<path:path>", authenticated=False, cacheable=True)
    def web_app_file(self, request, path):
        return app_file(request, path)
