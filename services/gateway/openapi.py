"""The machine-readable contract, served at GET /v1/openapi.json, generated from the code: each route's
@doc (apidoc.py) and @route (http.py), the marshmallow schemas that validate requests, the response
schemas (responses.py) and the error table (errors.py). ../shared/api.md is the human-readable contract;
this never contradicts it. A route without @doc cannot be served: `document` refuses it."""
import dataclasses
import inspect
import re
import sys
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from nameko.web.handlers import HttpRequestHandler

from services.gateway.apidoc import Doc
from services.gateway.errors import ADVICE, INTERNAL, PROBLEM_TYPES, PROBLEMS
from services.gateway.http import MAX_BODY_BYTES, route_of
from services.gateway.responses import HealthView
from services.gateway.schemas import NoQuery

VERSION = "1.0.0"
ID_PATTERN = re.compile(r"<(?:string:|path:)?(\w+)>")
USERNAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{2,63}$"}
STATUS_CODES: dict[int, list[str]] = {}
for _status, _code, _title in (*PROBLEMS.values(), INTERNAL):
    STATUS_CODES.setdefault(_status, []).append(_code)
CODES = [code for codes in STATUS_CODES.values() for code in codes]
# 405 answers a method no operation takes (with Allow); 500 is a defect, never a designed answer. The
# Problem schema documents their codes; no operation lists them.
NO_OPERATION_GIVES = (405, 500)

INFO = f"""Case management for GBV and child-protection caseworkers: the HTTP API of Casetrail's gateway.

Authenticate with `POST /v1/auth/token` and send `Authorization: Bearer <access_token>`. JSON in, JSON out,
UTF-8; times are RFC 3339 UTC; ids are UUIDs. Lists answer `{{"items": [...], "next_cursor": ...}}`: give
`next_cursor` back as `cursor` for the next page (null: the last page).

Every response carries `X-Correlation-Id` (yours, when you send a valid one) and every /v1 response
`Cache-Control: no-store`. A case's `version` is its `ETag`; send it back as `If-Match` on a command, and a 412
`version_mismatch` tells you someone changed the case since. A POST sent with `Idempotency-Key` can be retried:
the same key and body return the first response and change nothing.

No string, in a body or a query parameter, may hold NUL, another control character or an unpaired surrogate
(free text may hold tab, line feed and carriage return): 422 naming the field. A query parameter a route does
not know is 422. A body is at most {MAX_BODY_BYTES // 1024} KiB.

Every error is `application/problem+json` (the Problem schema) with a stable `code` to branch on, never on
`detail`; `type` is `{PROBLEM_TYPES}<code>`. An unknown path is 404 `not_found`; a method the path does not
take is 405 `method_not_allowed` with `Allow`.

A web client's origin listed in the gateway's CORS_ORIGINS gets CORS headers and preflight (`OPTIONS`, 204)
answers; any other origin gets none.

{'{codes}'}"""


def codes_table() -> str:
    """Each problem code: its status, what it means, what a client should do (errors.ADVICE)."""
    status_of = {code: status for status, codes in STATUS_CODES.items() for code in codes}
    rows = [f"| `{code}` | {status_of[code]} | {meaning} | {todo} |" for code, (meaning, todo) in ADVICE.items()]
    return "\n".join(["| code | status | meaning | what to do |", "|---|---|---|---|", *rows])


@cache
def document(service: type) -> dict:
    """The OpenAPI 3.1 document of `service`'s routes (the gateway's)."""
    spec = APISpec(title="Casetrail gateway", version=VERSION, openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_Names())],
                   info={"description": INFO.replace("{codes}", codes_table())},
                   servers=[{"url": "http://127.0.0.1:8000", "description": "`make up` (GATEWAY_PORT)"}],
                   security=[{"bearer": []}])
    _components(spec)
    tags: dict[str, str] = {}
    for handler, entrypoint in sorted(_routes(service), key=lambda pair: pair[1].url):
        api_doc: Doc | None = getattr(handler, "api_doc", None) or PLUMBING.get(handler.__qualname__)
        if api_doc is None:
            raise LookupError(f"{handler.__qualname__} ({entrypoint.method} {entrypoint.url}) has no @doc")
        tag, description = _tag(handler)
        tags.setdefault(tag, description)
        path, params = _path(entrypoint.url)
        method = entrypoint.method.lower()
        spec.path(path=path, operations={method: _operation(handler, _every_post_idempotent(method, api_doc), tag,
                                                            params)})
    for tag in sorted(tags):
        spec.tag({"name": tag, "description": tags[tag]})
    built = spec.to_dict()
    for item in built["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query":
                    parameter.setdefault("description", QUERY_PARAMETERS.get(parameter["name"], "A filter."))
                    parameter["required"] = False  # every one: a service's schema may require what the route adds
    return built


QUERY_PARAMETERS = {  # what the query parameters of the lists mean, wherever they are taken
    "limit": "Items per page.", "cursor": "The `next_cursor` of the previous page; none: the first page.",
    "stage": "Only cases at this stage.", "risk_level": "Only cases at this risk level.",
    "assigned_to": "Only the cases of this caseworker (a username).",
    "overdue": "Only cases whose follow-up is overdue (true) or not (false).",
    "as_of": "The case as it was at this time (RFC 3339).", "status": "Only requests of this status.",
    "unread": "Only unread notifications.", "service_type": "Only providers of this service.",
    "area": "Only providers of this area.", "role": "Only users of this role.",
    "organisation": "Only users of this organisation (its id).", "active": "Only active (true) or inactive users.",
    "case_number": ("Only the case of this number (`GBV-2026-000123`); none outside the caller's"
                    " scope. The one way an auditor uses this list."),
    "since": "The `next_cursor` of the previous answer; none: from the start (`reset`).",
}


def _every_post_idempotent(method: str, api_doc: Doc) -> Doc:
    """Every POST takes Idempotency-Key (api.md), so no route need say so."""
    if method != "post" or "Idempotency-Key" in api_doc.takes:
        return api_doc
    return dataclasses.replace(api_doc, takes=(*api_doc.takes, "Idempotency-Key"))


def _routes(service: type):
    """Every HTTP route of `service` but the answer to unknown ones, with its handler."""
    for _, member in inspect.getmembers(service, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, HttpRequestHandler) and entrypoint.method != "*":
                yield member, entrypoint


# What every service serves (shared/metrics.py Observable), outside the API: no login, no headers added.
PLUMBING = {"Observable.health": Doc("Liveness: the gateway is up", returns=HealthView),
            "Observable.metrics_endpoint": Doc("Prometheus metrics", description="The text exposition format, "
                                                                                 "for Prometheus.")}


def _tag(handler) -> tuple[str, str]:
    """The tag of a route: its route class's `tag`, described by the class's docstring."""
    if handler.__qualname__ in PLUMBING:
        return "operations", "What an operator's tools ask of every service: liveness and metrics."
    owner = getattr(sys.modules[handler.__module__], handler.__qualname__.split(".")[0])
    return owner.tag, inspect.cleandoc(owner.__doc__ or owner.tag)


def _path(url: str) -> tuple[str, list[dict]]:
    """An OpenAPI path for a werkzeug rule, and its path parameters: a username, or an id (a UUID)."""
    params = []
    for name in ID_PATTERN.findall(url):
        if name == "path":  # the web app's files
            params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                           "description": "A file of the web app, by its path under `/app/`."})
            continue
        schema = USERNAME if name == "username" else {"type": "string", "format": "uuid"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema,
                       "description": "A username." if name == "username" else f"The {name.removesuffix('_id')}'s id."})
    return ID_PATTERN.sub(r"{\1}", url), params


class _Names:
    """Component names for schemas: the class's name less "Schema"; a second class of that name (another
    service's) gets its service's name in front."""

    def __init__(self):
        self.names: dict[type, str] = {}

    def __call__(self, schema) -> str:
        schema = resolve_schema_cls(schema)
        if schema not in self.names:
            name = schema.__name__.removesuffix("Schema")
            if name in self.names.values():
                name = schema.__module__.split(".")[1].title() + name
            self.names[schema] = name
        return self.names[schema]


def _operation(handler, api_doc: Doc, tag: str, path_params: list[dict]) -> dict:
    plumbing = not handler.__module__.startswith("services.gateway.")  # /health, /metrics: no headers added
    authenticated, query = route_of(handler)
    authenticated = authenticated if api_doc.signed_in is None else api_doc.signed_in
    operation: dict = {"operationId": handler.__name__, "tags": [tag], "summary": api_doc.summary,
                       "description": api_doc.description or inspect.cleandoc(handler.__doc__ or api_doc.summary)}
    if not authenticated:
        operation["security"] = []
    parameters = [*path_params, *api_doc.takes]  # a name: the parameter of that name in components
    if not plumbing:
        parameters.append("X-Correlation-Id")
    documented_query = api_doc.query or query
    if documented_query not in (None, NoQuery):
        parameters.append({"in": "query", "schema": documented_query})
    if parameters:
        operation["parameters"] = parameters
    if api_doc.body is not None:
        operation["requestBody"] = {"required": not api_doc.body_optional, "content": {"application/json": {
            "schema": api_doc.body, "example": api_doc.example}}}
    success: dict = {"description": api_doc.summary}
    if api_doc.returns is not None:
        success["content"] = {"application/json": {"schema": api_doc.returns}}
    if api_doc.media_type is not None:  # a file of the web app: revalidated with its ETag, not no-store
        success["content"] = {api_doc.media_type: {"schema": {"type": "string"}}}
    headers = {} if plumbing else {"X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"},
                                   "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}}
    if api_doc.media_type is not None:
        headers |= {"Cache-Control": {"$ref": "#/components/headers/FileCacheControl"},
                    "ETag": {"$ref": "#/components/headers/FileETag"},
                    "Content-Security-Policy": {"$ref": "#/components/headers/Content-Security-Policy"}}
    headers |= {name: {"$ref": f"#/components/headers/{name}"} for name in api_doc.headers}
    if headers:
        success["headers"] = headers
    operation["responses"] = {str(api_doc.status): success} | {
        str(status): {"$ref": f"#/components/responses/Problem{status}"}
        for status in sorted(set() if plumbing else _errors(api_doc, authenticated, bool(path_params)))}
    return operation


def _errors(api_doc: Doc, authenticated: bool, has_path_params: bool) -> set[int]:
    """The error statuses a route can give: those of its kind, and those its @doc names."""
    statuses = {422, 503} | set(api_doc.errors)  # 422: a query parameter the route does not know
    if authenticated:
        statuses |= {401, 403}  # 403: password_change_required, or the role may not
    if has_path_params:
        statuses.add(404)
    if api_doc.body is not None:
        statuses |= {400, 413, 415}
    if "If-Match" in api_doc.takes:
        statuses |= {400, 412}
    if "Idempotency-Key" in api_doc.takes:
        statuses |= {409}  # the key was used for another request
    return statuses


def _components(spec: APISpec) -> None:
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                               "description": "The access_token of POST /v1/auth/token."})
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], {k: v for k, v in parameter.items() if k != "in"})
    spec.components.schema("Problem", PROBLEM)
    for status, codes in sorted(STATUS_CODES.items()):
        if status in NO_OPERATION_GIVES:
            continue
        headers = {"X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"},
                   "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}}
        if status == 429:
            headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        spec.components.response(f"Problem{status}", {
            "description": "; ".join(f"`{code}`: {ADVICE[code][0]}" for code in codes),
            "headers": headers,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"},
                                                     "example": _problem_example(status, codes[0])}}})


def _problem_example(status: int, code: str) -> dict:
    title = next(title for s, c, title in (*PROBLEMS.values(), INTERNAL) if c == code)
    example = {"type": PROBLEM_TYPES + code, "code": code, "title": title, "status": status,
               "detail": ADVICE[code][0]}
    if code == "validation":
        example |= {"detail": "Some fields are invalid.", "errors": {"survivor.name": ["Missing data for "
                                                                                         "required field."]}}
    return example


PROBLEM = {
    "type": "object", "required": ["type", "code", "title", "status", "detail"],
    "description": "An error (RFC 9457 problem details). Branch on `code`:\n\n{codes}",
    "properties": {
        "type": {"type": "string", "format": "uri", "description": f"`{PROBLEM_TYPES}` and the code."},
        "code": {"type": "string", "enum": CODES, "description": "Stable: what a client branches on."},
        "title": {"type": "string", "description": "The code's title, for people."},
        "status": {"type": "integer", "description": "The HTTP status."},
        "detail": {"type": "string", "description": "What went wrong, for people; never parse it."},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "description": "`validation` only: each invalid field's path (`survivor.name`, "
                                  "`goals.0.due_date`, `headers.idempotency_key`) and its messages."}}}
PROBLEM["description"] = PROBLEM["description"].replace("{codes}", codes_table())

HEADERS = {
    "X-Correlation-Id": {"description": "The request's correlation id (the one sent, when valid; else a new one): "
                                        "quote it when reporting a problem.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "`no-store`: answers hold survivor data.", "schema": {"type": "string",
                                                                                          "enum": ["no-store"]}},
    "ETag": {"description": 'The case\'s version, quoted ("3"): send it as If-Match on the next command.',
             "schema": {"type": "string"}},
    "Location": {"description": "The new resource's path.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "FileCacheControl": {"description": "`no-cache`: a file of the web app is revalidated (If-None-Match: its "
                                        "ETag, then 304) before each use; its service worker keeps the shell "
                                        "offline.", "schema": {"type": "string", "enum": ["no-cache"]}},
    "FileETag": {"description": "A hash of the file: send it as If-None-Match to get 304 while it is unchanged.",
                 "schema": {"type": "string"}},
    "Content-Security-Policy": {"description": "The app runs only its own scripts and styles, talks only to "
                                               "this origin, and is never framed.", "schema": {"type": "string"}},
}
PARAMETERS = {
    "If-Match": {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
                 "description": 'The case version the client last saw, as its ETag gave it ("3"): 412 '
                                '`version_mismatch` if the case has moved on; 400 if it names no version.'},
    "Idempotency-Key": {"in": "header", "name": "Idempotency-Key", "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        "description": "The caller's own name for this request (a single line, 1-200 characters, "
                                       "remembered 24 hours). A retry with the same key and body returns the first "
                                       "response and changes nothing; the same key with another body is 409 "
                                       "`conflict`."},
    "X-Correlation-Id": {"in": "header", "name": "X-Correlation-Id", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,100}$"},
                         "description": "Your id for the request, echoed in the response and the logs; "
                                        "another is made when none (or an invalid one) is sent."},
}
