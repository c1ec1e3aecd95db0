"""The machine-readable contract, served at GET /v1/openapi.json. It grows with each capability;
../shared/api.md is the human-readable one, and this never contradicts it."""


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _problems(*statuses: int) -> dict:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in statuses}


PROBLEM_TITLES = {400: "Malformed JSON", 401: "No, invalid or expired token", 403: "Role may not do this",
                  404: "Unknown id, or outside the caller's scope", 409: "Not valid in the current state",
                  412: "If-Match does not match", 422: "Field validation", 429: "Too many login attempts",
                  503: "A backing service is unavailable"}

IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "A retry with the same key and body returns the first response and changes nothing."}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Casetrail gateway", "version": "1.0.0",
             "description": "Case management for GBV and child-protection caseworkers."},
    "servers": [{"url": "http://127.0.0.1:8000"}],
    "security": [{"bearer": []}],
    "paths": {
        "/health": {"get": {"security": [], "summary": "Liveness", "responses": {"200": {"description": "Up"}}}},
        "/v1/auth/token": {"post": {
            "security": [], "summary": "Exchange username and password for an access token",
            "requestBody": {"required": True, "content": _json(_ref("TokenRequest"))},
            "responses": {"200": {"description": "Token", "content": _json(_ref("Token"))},
                          **_problems(400, 401, 422, 429)}}},
        "/v1/users": {"post": {
            "summary": "Create a user (admin)", "parameters": [IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": _json(_ref("NewUser"))},
            "responses": {"201": {"description": "Created", "content": _json(_ref("User"))},
                          **_problems(400, 401, 403, 409, 422)}}},
        "/v1/users/me": {"get": {
            "summary": "The caller", "responses": {"200": {"description": "The caller", "content": _json(_ref("User"))},
                                                   **_problems(401)}}},
        "/v1/cases": {
            "post": {"summary": "Register a survivor's case (caseworker, supervisor)", "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json(_ref("NewCase"))},
                     "responses": {"201": {"description": "The case", "headers": {"ETag": {"schema": {"type": "string"}}},
                                           "content": _json(_ref("Case"))},
                                   **_problems(400, 401, 403, 409, 422, 503)}},
            "get": {"summary": "Cases in the caller's scope",
                    "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                   for n in ("stage", "risk_level", "assigned_to", "overdue", "cursor")]
                    + [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200, "default": 50}}],
                    "responses": {"200": {"description": "A page", "content": _json(_ref("CaseList"))},
                                  **_problems(401, 403, 422, 503)}}},
        "/v1/cases/{id}": {"get": {
            "summary": "A case file", "parameters": [{"name": "id", "in": "path", "required": True,
                                                      "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "The case", "headers": {"ETag": {"schema": {"type": "string"}}},
                                  "content": _json(_ref("Case"))}, **_problems(401, 404, 503)}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "responses": {f"Problem{s}": {"description": t, "content": {"application/problem+json": {"schema": _ref("Problem")}}}
                      for s, t in PROBLEM_TITLES.items()},
        "schemas": {
            "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
            "TokenRequest": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
                             "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
            "Token": {"type": "object", "properties": {"access_token": {"type": "string"},
                                                        "token_type": {"const": "bearer"},
                                                        "expires_in": {"type": "integer"}}},
            "Role": {"enum": ["caseworker", "supervisor", "auditor", "provider", "admin"]},
            "NewUser": {"type": "object", "required": ["username", "password", "role", "display_name"],
                        "additionalProperties": False, "properties": {
                            "username": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{2,63}$"},
                            "password": {"type": "string", "minLength": 12}, "role": _ref("Role"),
                            "display_name": {"type": "string"},
                            "supervisor": {"type": ["string", "null"], "description": "Required for a caseworker"},
                            "provider_id": {"type": ["string", "null"], "format": "uuid"},
                            "email": {"type": ["string", "null"], "format": "email"}}},
            "User": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "username": {"type": "string"}, "role": _ref("Role"),
                "display_name": {"type": "string"}, "supervisor": {"type": ["string", "null"]},
                "provider_id": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]}}},
            "RiskLevel": {"enum": ["low", "medium", "high"]},
            "Survivor": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                "name": {"type": "string"}, "sex": {"enum": ["female", "male", "other", "unknown"]},
                "date_of_birth": {"type": "string", "format": "date"}, "phone": {"type": "string"},
                "location": {"type": "string"}}},
            "NewCase": {"type": "object", "required": ["survivor", "risk_level"], "additionalProperties": False,
                        "properties": {"survivor": _ref("Survivor"), "risk_level": _ref("RiskLevel"),
                                       "is_child": {"type": "boolean"},
                                       "caregiver": {"type": ["object", "null"], "properties": {
                                           "name": {"type": "string"}, "relationship": {"type": "string"},
                                           "phone": {"type": "string"}}},
                                       "intake_notes": {"type": ["string", "null"]}}},
            "Case": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "case_number": {"type": "string"},
                "version": {"type": "integer"},
                "stage": {"enum": ["engagement", "assessment", "case_plan", "implementation", "follow_up", "closed"]},
                "risk_level": _ref("RiskLevel"), "assigned_to": {"type": "string"}, "is_child": {"type": "boolean"},
                "survivor": _ref("Survivor"), "consent": {"type": ["object", "null"]},
                "assessment": {"type": ["object", "null"]}, "plan": {"type": "object"},
                "follow_up": {"type": "object"}, "closure": {"type": "object"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"}}},
            "CaseList": {"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object"}},
                "next_cursor": {"type": ["string", "null"]}}},
        },
    },
}
