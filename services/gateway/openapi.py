"""The machine-readable contract, served at GET /v1/openapi.json. It grows with each capability;
../shared/api.md is the human-readable one, and this never contradicts it."""


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _list(name: str) -> dict:
    return {"type": "object", "properties": {"items": {"type": "array", "items": _ref(name)},
                                             "next_cursor": {"type": ["string", "null"]}}}


def _problems(*statuses: int) -> dict:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in statuses}


PROBLEM_TITLES = {400: "Malformed JSON", 401: "No, invalid or expired token", 403: "Role may not do this",
                  404: "Unknown id, or outside the caller's scope", 409: "Not valid in the current state",
                  412: "If-Match does not match", 413: "Body larger than 256 KiB",
                  405: "The path does not take this method (Allow lists those it takes)",
                  415: "Body not sent as application/json", 422: "Field validation", 429: "Too many login attempts",
                  503: "A backing service is unavailable"}
PROBLEM_CODES = ["malformed", "unauthenticated", "forbidden", "password_change_required", "not_found",
                 "method_not_allowed", "invalid_transition", "conflict", "version_mismatch", "payload_too_large",
                 "unsupported_media_type", "validation", "rate_limited", "unavailable", "internal"]

IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "A retry with the same key and body returns the first response and changes nothing."}

CASE_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
USERNAME = {"name": "username", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{2,63}$"}}
# Every list pages: `limit` (1-200, default 50) and the opaque `cursor` the previous page gave (shared/paging.py).
PAGE = [{"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "The next_cursor of the previous page; opaque"}]
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": 'The case version the client last saw, as in ETag ("3"); 412 if it moved on.'}


def _case_command(summary: str, status: int, body: str | None, returns: str = "Case", method: str = "post") -> dict:
    operation = {"summary": summary, "parameters": [CASE_ID, IF_MATCH, IDEMPOTENCY_KEY],
                 "responses": {str(status): {"description": "Done", "content": _json(_ref(returns))},
                               **_problems(400, 401, 403, 404, 409, 412, 422, 503)}}
    if body:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return {method: operation}


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Casetrail gateway", "version": "1.0.0",
             "description": "Case management for GBV and child-protection caseworkers. Every error is "
                            "application/problem+json with a stable `code`; an unknown route is 404, a method the "
                            "path does not take 405 with `Allow`. Every /v1 response carries "
                            "`Cache-Control: no-store`. No string, in a body or a query parameter, may hold NUL, "
                            "another control character or an unpaired surrogate (free text may hold tab, line feed "
                            "and carriage return): 422 naming the field. A query parameter a route does not know "
                            "is 422."},
    "servers": [{"url": "http://127.0.0.1:8000"}],
    "security": [{"bearer": []}],
    "paths": {
        "/health": {"get": {"security": [], "summary": "Liveness", "responses": {"200": {"description": "Up"}}}},
        "/v1/openapi.json": {"get": {"security": [], "summary": "This document",
                                     "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/v1/auth/token": {"post": {
            "security": [], "summary": "Exchange username and password for an access token",
            "requestBody": {"required": True, "content": _json(_ref("TokenRequest"))},
            "responses": {"200": {"description": "Token", "content": _json(_ref("Token"))},
                          **_problems(400, 401, 422, 429, 503)}}},
        "/v1/auth/refresh": {"post": {
            "security": [], "summary": "A new access and refresh token for a refresh token, which works once "
                                       "(presenting a used one ends its session)",
            "requestBody": {"required": True, "content": _json({
                "type": "object", "required": ["refresh_token"], "additionalProperties": False,
                "properties": {"refresh_token": {"type": "string"}}})},
            "responses": {"200": {"description": "Token", "content": _json(_ref("Token"))},
                          **_problems(400, 401, 422, 503)}}},
        "/v1/auth/logout": {"post": {
            "summary": "End the caller's session: its access and refresh tokens stop working",
            "responses": {"204": {"description": "Logged out"}, **_problems(401, 503)}}},
        "/v1/users": {
            "post": {
                "summary": "Create a user (admin)", "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": _json(_ref("NewUser"))},
                "responses": {"201": {"description": "Created", "content": _json(_ref("User"))},
                              **_problems(400, 401, 403, 409, 422, 503)}},
            "get": {
                "summary": "Users, in username order (admin)",
                "parameters": [{"name": "role", "in": "query", "required": False, "schema": _ref("Role")},
                               {"name": "organisation", "in": "query", "required": False,
                                "schema": {"type": "string", "format": "uuid"}},
                               {"name": "active", "in": "query", "required": False,
                                "schema": {"enum": ["true", "false"]}}, *PAGE],
                "responses": {"200": {"description": "A page of users", "content": _json(_list("User"))},
                              **_problems(401, 403, 422, 503)}}},
        "/v1/organisations": {
            "post": {"summary": "Create an organisation (admin): an agency whose users, cases and approval policy are "
                                "its own; a name no other organisation has, whatever its case (409 otherwise)",
                     "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json(_ref("NewOrganisation"))},
                     "responses": {"201": {"description": "Created", "content": _json(_ref("Organisation"))},
                                   **_problems(400, 401, 403, 409, 422, 503)}},
            "get": {"summary": "The organisations, the first one first, in the order they were created (admin)",
                    "parameters": PAGE,
                    "responses": {"200": {"description": "Organisations", "content": _json(_list("Organisation"))},
                                  **_problems(401, 403, 422, 503)}}},
        "/v1/organisations/{id}/approval-policy": {
            "get": {"summary": "An organisation's approval policy (admin)",
                    "parameters": [CASE_ID | {"description": "The organisation's id"}],
                    "responses": {"200": {"description": "The policy", "content": _json(_ref("ApprovalPolicy"))},
                                  **_problems(401, 403, 404, 503)}},
            "put": {"summary": "Set an organisation's approval policy (admin); the approvals service applies it to "
                               "that organisation's cases",
                    "parameters": [CASE_ID | {"description": "The organisation's id"}],
                    "requestBody": {"required": True, "content": _json(_ref("ApprovalPolicy"))},
                    "responses": {"200": {"description": "The policy", "content": _json(_ref("ApprovalPolicy"))},
                                  **_problems(400, 401, 403, 404, 422, 503)}}},
        "/v1/users/me": {"get": {
            "summary": "The caller", "responses": {"200": {"description": "The caller", "content": _json(_ref("User"))},
                                                   **_problems(401)}}},
        "/v1/users/me/password": {"post": {
            "summary": "Change the caller's password; their other sessions end",
            "requestBody": {"required": True, "content": _json({
                "type": "object", "required": ["current_password", "new_password"], "additionalProperties": False,
                "properties": {"current_password": {"type": "string"},
                               "new_password": {"type": "string", "minLength": 12}}})},
            "responses": {"204": {"description": "Changed"}, **_problems(400, 401, 422, 429, 503)}}},
        "/v1/users/{username}": {
            "get": {"summary": "A user (admin)", "parameters": [USERNAME],
                    "responses": {"200": {"description": "The user", "content": _json(_ref("User"))},
                                  **_problems(401, 403, 404, 422, 503)}},
            "patch": {"summary": "Change a user (admin); a change of role or supervisor ends their sessions",
                      "parameters": [USERNAME],
                      "requestBody": {"required": True, "content": _json(_ref("UserChange"))},
                      "responses": {"200": {"description": "The user", "content": _json(_ref("User"))},
                                    **_problems(401, 403, 404, 409, 422, 503)}}},
        **{f"/v1/users/{{username}}/{action}": {"post": {
            "summary": summary, "parameters": [USERNAME],
            "responses": {"200": {"description": "Done", "content": _json(_ref(returns))},
                          **_problems(400, 401, 403, 404, 409, 503)}}}
           for action, summary, returns in (
               ("deactivate", "Deactivate a user (admin): their tokens stop working, they cannot log in; 409 while "
                              "they hold open cases or supervise active users", "User"),
               ("reactivate", "Reactivate a user (admin)", "User"),
               ("password-reset", "A temporary password (admin), good only to set a new one; the user's "
                                  "sessions end", "TemporaryPassword"),
               ("unlock", "Lift the lock that failed logins put on an account (admin)", "User"))},
        "/v1/users/me/preferences": {"put": {
            "summary": "The caller's notification preferences",
            "requestBody": {"required": True, "content": _json({
                "type": "object", "required": ["email_notifications"], "additionalProperties": False,
                "properties": {"email_notifications": {"type": "boolean"}}})},
            "responses": {"200": {"description": "The caller", "content": _json(_ref("User"))},
                          **_problems(400, 401, 422)}}},
        "/v1/cases": {
            "post": {"summary": "Register a survivor's case (caseworker, supervisor)", "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json(_ref("NewCase"))},
                     "responses": {"201": {"description": "The case", "headers": {"ETag": {"schema": {"type": "string"}}},
                                           "content": _json(_ref("Case"))},
                                   **_problems(400, 401, 403, 409, 422, 503)}},
            "get": {"summary": "Cases in the caller's scope",
                    "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                   for n in ("stage", "risk_level", "assigned_to", "overdue", "case_number")] + PAGE,
                    "responses": {"200": {"description": "A page", "content": _json(_ref("CaseList"))},
                                  **_problems(401, 403, 422, 503)}}},
        "/v1/cases/{id}/consent": _case_command("Record the survivor's consent (its own stream)", 201,
                                                "Consent", "ConsentView"),
        "/v1/cases/{id}/consent/withdraw": _case_command("Withdraw consent", 200, None, "ConsentView"),
        "/v1/cases/{id}/assessment": _case_command("Record an assessment; moves the case to case_plan", 200,
                                                   "Assessment"),
        "/v1/cases/{id}/plan": _case_command("Draft (or revise) the case action plan", 200, "Plan", method="put"),
        "/v1/cases/{id}/plan/submit": _case_command("Submit the plan for approval (CasePlanSubmitted)", 202, None),
        "/v1/cases/{id}/follow-ups": _case_command("Record a follow-up; returns the new next_due", 201, "FollowUp"),
        "/v1/cases/{id}/conferences": _case_command("Record a case conference", 201, "Conference"),
        "/v1/cases/{id}/closure": _case_command("Request closure (approval per policy)", 202, "Closure"),
        "/v1/cases/{id}/reopen": _case_command("Reopen a closed case (back to follow_up)", 200, "Reason"),
        "/v1/cases/{id}/reassign": _case_command("Reassign within the supervisor's team", 200, "Reassign"),
        "/v1/cases/{id}/feedback": _case_command("Client feedback after closure, by someone other than the "
                                                 "case's caseworker", 201, "Feedback", "Recorded"),
        "/v1/providers": {
            "post": {"summary": "Add a service provider to the referral pathway (admin)",
                     "requestBody": {"required": True, "content": _json(_ref("NewProvider"))},
                     "responses": {"201": {"description": "Added", "content": _json(_ref("Provider"))},
                                   **_problems(400, 401, 403, 422, 503)}},
            "get": {"summary": "Search providers (any role)",
                    "parameters": [{"name": "service_type", "in": "query", "schema": _ref("ServiceType")},
                                   {"name": "area", "in": "query", "schema": {"type": "string"}}, *PAGE],
                    "responses": {"200": {"description": "Providers", "content": _json(_list("Provider"))},
                                  **_problems(401, 422, 503)}}},
        "/v1/cases/{id}/referrals": {
            "post": {"summary": "Refer the survivor to a provider; 409 unless current consent allows services "
                                "and sharing with providers",
                     "parameters": [CASE_ID, IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json(_ref("NewReferral"))},
                     "responses": {"201": {"description": "Made", "content": _json(_ref("Referral"))},
                                   **_problems(400, 401, 404, 409, 422, 503)}},
            "get": {"summary": "The case's referrals, newest first", "parameters": [CASE_ID, *PAGE],
                    "responses": {"200": {"description": "Referrals", "content": _json(_list("Referral"))},
                                  **_problems(401, 404, 422, 503)}}},
        "/v1/referrals": {"get": {"summary": "Referrals, newest first: a provider's own; a caseworker's (and team's)",
                                  "parameters": PAGE,
                                  "responses": {"200": {"description": "Referrals", "content": _json(_list("Referral"))},
                                                **_problems(401, 403, 422, 503)}}},
        **{f"/v1/referrals/{{id}}/{action}": {"post": {
            "summary": summary, "parameters": [CASE_ID | {"description": "The referral's id"}],
            **({"requestBody": {"required": True, "content": _json({"type": "object", "required": [field],
                                                                     "properties": {field: {"type": "string"}}})}}
               if field else {}),
            "responses": {"200": {"description": "Done", "content": _json(_ref("Referral"))},
                          **_problems(400, 401, 404, 409, 422, 503)}}}
           for action, field, summary in (("accept", None, "Accept (the provider)"),
                                          ("decline", "reason", "Decline with a reason (the provider)"),
                                          ("complete", "outcome", "Complete with the outcome (the provider)"),
                                          ("withdraw", "reason", "Withdraw (the case's caseworker or supervisor)"))},
        "/v1/notifications": {"get": {
            "summary": "The caller's in-app notifications, newest first",
            "parameters": [{"name": "unread", "in": "query", "schema": {"type": "boolean"}}, *PAGE],
            "responses": {"200": {"description": "Notifications", "content": _json(_list("Notification"))},
                          **_problems(401, 422, 503)}}},
        "/v1/notifications/{id}/read": {"post": {
            "summary": "Mark one of the caller's notifications read",
            "parameters": [CASE_ID | {"description": "The notification's id"}],
            "responses": {"200": {"description": "Read"}, **_problems(401, 404, 503)}}},
        "/v1/webhooks": {"post": {
            "summary": "Register a webhook (admin); deliveries are signed X-Signature: sha256=<hmac of the body>, "
                       "carry X-Delivery-Id, and are retried with exponential backoff",
            "requestBody": {"required": True, "content": _json({
                "type": "object", "required": ["url", "events", "secret"], "additionalProperties": False,
                "properties": {"url": {"type": "string", "format": "uri"},
                               "events": {"type": "array", "items": {"type": "string"}},
                               "secret": {"type": "string", "minLength": 16}}})},
            "responses": {"201": {"description": "Registered (the secret is not returned)"},
                          **_problems(400, 401, 403, 422, 503)}},
            "get": {
                "summary": "The webhooks not deleted, in a stable order (admin); never their secrets",
                "parameters": PAGE,
                "responses": {"200": {"description": "Webhooks", "content": _json({
                    "type": "object", "properties": {
                        "items": {"type": "array", "items": {"type": "object", "properties": {
                            "id": {"type": "string", "format": "uuid"}, "url": {"type": "string"},
                            "events": {"type": "array", "items": {"type": "string"}},
                            "registered_at": {"type": ["string", "null"], "format": "date-time"}}}},
                        "next_cursor": {"type": ["string", "null"]}}})},
                    **_problems(401, 403, 422, 503)}}},
        "/v1/webhooks/{id}": {"delete": {
            "summary": "Delete a webhook (admin): no delivery after this, pending ones are cancelled",
            "parameters": [CASE_ID | {"description": "The webhook's id"}],
            "responses": {"204": {"description": "Deleted"}, **_problems(401, 403, 404, 503)}}},
        "/v1/webhooks/{id}/deliveries": {"get": {
            "summary": "Deliveries to a webhook, with every attempt (admin), newest first",
            "parameters": [CASE_ID | {"description": "The webhook's id"}, *PAGE],
            "responses": {"200": {"description": "Deliveries"}, **_problems(401, 403, 404, 422, 503)}}},
        "/v1/approvals": {"get": {
            "summary": "The caller's approval queue (supervisor: their team's requests; caseworker: their own), "
                       "oldest first",
            "parameters": [{"name": "status", "in": "query", "schema": {"enum": ["pending", "approved", "rejected"]}},
                           *PAGE],
            "responses": {"200": {"description": "Requests", "content": _json({"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("ApprovalRequest")},
                "next_cursor": {"type": ["string", "null"]}}})}, **_problems(401, 403, 422, 503)}}},
        "/v1/approvals/{id}/decision": {"post": {
            "summary": "Approve or reject (the requester's supervisor; a rejection needs a comment)",
            "parameters": [CASE_ID | {"description": "The approval request's id"}],
            "requestBody": {"required": True, "content": _json(_ref("Decision"))},
            "responses": {"200": {"description": "Decided", "content": _json(_ref("ApprovalRequest"))},
                          **_problems(400, 401, 403, 404, 409, 422, 503)}}},
        "/v1/approval-policy": {
            "get": {"summary": "When approval is needed: the caller's organisation's policy (the admin's: the "
                               "first organisation's)", "responses": {
                "200": {"description": "The policy", "content": _json(_ref("ApprovalPolicy"))}, **_problems(401, 503)}},
            "put": {"summary": "Set the first organisation's approval policy (admin); "
                               "PUT /v1/organisations/{id}/approval-policy sets another's",
                    "requestBody": {"required": True, "content": _json(_ref("ApprovalPolicy"))},
                    "responses": {"200": {"description": "The policy", "content": _json(_ref("ApprovalPolicy"))},
                                  **_problems(400, 401, 403, 422, 503)}}},
        "/v1/cases/{id}": {"get": {
            "summary": "A case file; with as_of, as it was then (auditors see identifying fields redacted)",
            "parameters": [CASE_ID, {"name": "as_of", "in": "query", "required": False,
                                     "schema": {"type": "string", "format": "date-time"}}],
            "responses": {"200": {"description": "The case", "headers": {"ETag": {"schema": {"type": "string"}}},
                                  "content": _json(_ref("Case"))}, **_problems(401, 403, 404, 422, 503)}}},
        "/v1/cases/{id}/history": {"get": {
            "summary": "Every event on the case in order, with its hash chain; views are recorded too "
                       "(auditor: any case, identifying fields redacted; caseworker, supervisor: in scope)",
            "parameters": [CASE_ID, *PAGE],
            "responses": {"200": {"description": "The history", "content": _json(_list("HistoryItem"))},
                          **_problems(401, 403, 404, 422, 503)}}},
        "/v1/cases/{id}/verify": {"get": {
            "summary": "Recompute the case's hash chain over the stored events",
            "parameters": [CASE_ID],
            "responses": {"200": {"description": "The verdict", "content": _json(_ref("Verification"))},
                          **_problems(401, 403, 404, 503)}}},
        "/v1/cases/{id}/export": {"get": {
            "summary": "The case's audit bundle: redacted history, state, verification and head hash, in canonical "
                       "JSON (RFC 8785), signed with Ed25519; recorded as a view by the reader (auditor: any case; "
                       "caseworker, supervisor: in scope). Check it offline with `casetrail-audit verify-bundle`",
            "parameters": [CASE_ID],
            "responses": {"200": {"description": "The signed bundle", "content": _json(_ref("AuditBundle"))},
                          **_problems(401, 403, 404, 503)}}},
        "/v1/audit/public-key": {"get": {
            "summary": "The Ed25519 public keys that verify audit bundles and checkpoints: the current key first, "
                       "then retired ones (bundles name the key that signed them by key_id)",
            "responses": {"200": {"description": "The keys", "content": _json(_ref("AuditKeys"))},
                          **_problems(401, 503)}}},
        "/v1/cases/{id}/erase": _case_command(
            "Erase the survivor's identifying data (supervisor of the case's team): the case key is destroyed; "
            "identifying fields read \"[erased]\" everywhere, the history remains and verifies", 200, "Erasure"),
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "responses": {f"Problem{s}": {"description": t, "content": {"application/problem+json": {"schema": _ref("Problem")}},
                                      **({"headers": {"Allow": {"schema": {"type": "string"}}}} if s == 405 else {})}
                      for s, t in PROBLEM_TITLES.items()},
        "schemas": {
            "Problem": {"type": "object", "required": ["type", "code", "title", "status", "detail"], "properties": {
                "type": {"type": "string", "format": "uri", "description": "names the same kind as `code`"},
                "code": {"enum": PROBLEM_CODES, "description": "what clients branch on (never on `detail`)"},
                "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
            "TokenRequest": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
                             "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
            "Token": {"type": "object", "properties": {"access_token": {"type": "string"},
                                                        "token_type": {"const": "bearer"},
                                                        "expires_in": {"type": "integer"},
                                                        "refresh_token": {"type": "string"}}},
            "TemporaryPassword": {"type": "object", "required": ["temporary_password"],
                                  "properties": {"temporary_password": {"type": "string"}}},
            "UserChange": {"type": "object", "additionalProperties": False, "properties": {
                "display_name": {"type": "string", "minLength": 1, "maxLength": 200},
                "email": {"type": ["string", "null"], "format": "email"}, "role": _ref("Role"),
                "supervisor": {"type": ["string", "null"]},
                "provider_id": {"type": ["string", "null"], "format": "uuid"}}},
            "HistoryItem": {"type": "object", "required": ["sequence", "type", "hash", "prev_hash"], "properties": {
                "sequence": {"type": "integer"}, "type": {"type": ["string", "null"]},
                "occurred_at": {"type": "string", "format": "date-time"},
                "actor": {"type": "object", "properties": {"username": {"type": "string"}, "role": {"type": "string"}}},
                "correlation_id": {"type": ["string", "null"]},
                "stream": {"enum": ["case", "consent", "access", "activity"]}, "stream_version": {"type": "integer"},
                "data": {"type": "object"}, "hash": {"type": "string"}, "prev_hash": {"type": "string"},
                "missing": {"type": "boolean", "description": "the stored event this link names is gone"},
                "unreadable": {"type": "boolean", "description": "the stored event no longer decrypts"}}},
            "AuditBundle": {"type": "object", "required": [
                "format", "case_id", "exported_at", "exported_by", "verification", "head_hash", "state", "history",
                "digests", "signature"], "properties": {
                "format": {"type": "string", "const": "casetrail-audit-bundle/1"},
                "case_id": {"type": "string", "format": "uuid"}, "case_number": {"type": ["string", "null"]},
                "exported_at": {"type": "string", "format": "date-time"},
                "exported_by": {"type": "object", "properties": {"username": {"type": "string"},
                                                                 "role": {"type": "string"}}},
                "verification": _ref("Verification"), "head_hash": {"type": ["string", "null"]},
                "state": {"type": "object"}, "history": {"type": "array", "items": _ref("HistoryItem")},
                "digests": {"type": "object", "additionalProperties": {"type": ["string", "null"]},
                            "description": "sha256 of each part's canonical JSON: state, verification, history[i]..."},
                "signature": _ref("AuditSignature")}},
            "AuditSignature": {"type": "object", "required": ["algorithm", "key_id", "value"], "properties": {
                "algorithm": {"type": "string", "const": "Ed25519"}, "key_id": {"type": "string"},
                "value": {"type": "string", "description": "base64 signature over the canonical JSON of the "
                                                           "bundle without its signature"}}},
            "AuditKeys": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {
                "type": "object", "required": ["key_id", "algorithm", "public_key", "public_key_pem", "current"],
                "properties": {"key_id": {"type": "string"}, "algorithm": {"type": "string", "const": "Ed25519"},
                               "public_key": {"type": "string", "description": "base64 raw 32-byte key"},
                               "public_key_pem": {"type": "string"}, "current": {"type": "boolean"}}}}}},
            "Verification": {"type": "object", "required": ["valid", "events", "head_hash"], "properties": {
                "valid": {"type": "boolean"}, "events": {"type": "integer"}, "head_hash": {"type": ["string", "null"]},
                "first_bad_sequence": {"type": "integer"}}},
            "Erasure": {"type": "object", "required": ["reason"], "additionalProperties": False,
                        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 1000}}},
            "Role": {"enum": ["caseworker", "supervisor", "auditor", "provider", "admin"]},
            "NewUser": {"type": "object", "required": ["username", "password", "role", "display_name"],
                        "additionalProperties": False, "properties": {
                            "username": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{2,63}$"},
                            "password": {"type": "string", "minLength": 12,
                                         "description": "Not containing the username; not a commonly used "
                                                        "password (422)"}, "role": _ref("Role"),
                            "display_name": {"type": "string"},
                            "supervisor": {"type": ["string", "null"], "description": "Required for a caseworker"},
                            "provider_id": {"type": ["string", "null"], "format": "uuid"},
                            "email": {"type": ["string", "null"], "format": "email"},
                            "organisation": {"type": ["string", "null"], "format": "uuid",
                                             "description": "The organisation's id (default: the first one); the "
                                                            "admin has none; a caseworker's supervisor must be of "
                                                            "the same organisation (422)"}}},
            "User": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "username": {"type": "string"}, "role": _ref("Role"),
                "display_name": {"type": "string"}, "supervisor": {"type": ["string", "null"]},
                "provider_id": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
                "email_notifications": {"type": "boolean"}, "active": {"type": "boolean"},
                "password_change_required": {"type": "boolean"},
                "organisation": {"type": ["string", "null"], "format": "uuid",
                                 "description": "The user's organisation; null for the admin"}}},
            "NewOrganisation": {"type": "object", "required": ["name"], "additionalProperties": False,
                                "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}},
            "Organisation": {"type": "object", "required": ["id", "name"], "properties": {
                "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}}},
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
                                       "unaccompanied": {"type": "boolean", "description": "a child with no caregiver"},
                                       "unaccompanied_reason": {"type": "string"},
                                       "intake_notes": {"type": ["string", "null"]}}},
            "Case": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "case_number": {"type": "string"},
                "version": {"type": "integer"},
                "stage": {"enum": ["engagement", "assessment", "case_plan", "implementation", "follow_up", "closed"]},
                "risk_level": _ref("RiskLevel"), "assigned_to": {"type": "string"}, "is_child": {"type": "boolean"},
                "survivor": _ref("Survivor"), "consent": {"type": ["object", "null"]},
                "assessment": {"type": ["object", "null"]}, "plan": {"type": "object"},
                "follow_up": {"type": "object"}, "closure": {"type": "object"},
                "monitoring": {"type": ["object", "null"], "properties": {
                    "ratings": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                        "rating": _ref("Rating"), "rated_at": {"type": "string", "format": "date-time"}}}},
                    "to_discuss": {"type": "array", "items": _ref("Domain")},
                    "computed_risk": _ref("RiskLevel"), "risk_level": _ref("RiskLevel"),
                    "raise_reason": {"type": ["string", "null"]}}},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"}}},
            "Consent": {"type": "object", "additionalProperties": False,
                        "required": ["services", "share_with_providers", "mandatory_reporting_explained", "given_by"],
                        "properties": {"services": {"type": "boolean"}, "share_with_providers": {"type": "boolean"},
                                       "mandatory_reporting_explained": {"type": "boolean"},
                                       "given_by": {"enum": ["survivor", "caregiver"]},
                                       "child_assent": {"type": "boolean"},
                                       "child_age": {"type": "integer", "minimum": 0, "maximum": 17},
                                       "best_interests_note": {
                                           "type": "string", "description": "required when the caregiver consents "
                                           "and the child does not assent; the plan then always needs approval"}}},
            "Domain": {"enum": ["safety_protection", "health_development", "psychosocial_mental_health",
                                "family_relationships", "education", "livelihood_basic_needs"]},
            "Rating": {"enum": ["green", "orange", "red"]},
            "ConsentView": {"type": "object", "properties": {"services": {"type": "boolean"},
                                                              "share_with_providers": {"type": "boolean"},
                                                              "withdrawn": {"type": "boolean"},
                                                              "version": {"type": "integer"},
                                                              "recorded_at": {"type": "string", "format": "date-time"}}},
            "ServiceType": {"enum": ["medical", "psychosocial", "legal", "safety", "shelter", "livelihood",
                                     "education", "other"]},
            "Assessment": {"type": "object", "additionalProperties": False, "required": ["needs", "safety_concerns"],
                           "properties": {"needs": {"type": "array", "minItems": 1, "items": _ref("ServiceType")},
                                          "safety_concerns": {"type": "string"}, "risk_level": _ref("RiskLevel"),
                                          "notes": {"type": "string"}}},
            "Plan": {"type": "object", "additionalProperties": False, "required": ["goals"], "properties": {
                "goals": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["need", "action", "responsible", "due_date"], "properties": {
                        "need": _ref("ServiceType"), "action": {"type": "string"}, "responsible": {"type": "string"},
                        "due_date": {"type": "string", "format": "date"},
                        "consulted": {"type": "array", "items": {"type": "string"}}}}},
                "child_participation": {"type": "string"}}},
            "FollowUp": {"type": "object", "additionalProperties": False,
                         "required": ["contacted", "contact_date", "safety_reassessed"], "properties": {
                             "contacted": {"type": "boolean"}, "contact_date": {"type": "string", "format": "date-time"},
                             "safety_reassessed": {"type": "boolean"}, "risk_level": _ref("RiskLevel"),
                             "notes": {"type": "string"},
                             "mode": {"enum": ["in_person", "phone", "video", "message"]},
                             "spoken_to": {"type": "array", "items": {"enum": ["survivor", "caregiver", "child"]}},
                             "domain_ratings": {"type": "object", "propertyNames": _ref("Domain"),
                                                "additionalProperties": _ref("Rating")},
                             "raise_risk_to": _ref("RiskLevel"),
                             "raise_reason": {"type": "string", "description": "required with raise_risk_to"}}},
            "Conference": {"type": "object", "additionalProperties": False,
                           "required": ["held_on", "participants", "decisions"], "properties": {
                               "held_on": {"type": "string", "format": "date"},
                               "participants": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                               "decisions": {"type": "string"}, "next_steps": {"type": "string"}}},
            "Closure": {"type": "object", "additionalProperties": False, "required": ["reason", "notes"], "properties": {
                "reason": {"enum": ["needs_met", "survivor_request", "relocated", "unreachable"]},
                "notes": {"type": "string"}}},
            "Reason": {"type": "object", "additionalProperties": False, "required": ["reason"],
                       "properties": {"reason": {"type": "string"}}},
            "Reassign": {"type": "object", "additionalProperties": False, "required": ["caseworker"],
                         "properties": {"caseworker": {"type": "string"}}},
            "Feedback": {"type": "object", "additionalProperties": False, "required": ["answers"],
                         "properties": {"answers": {"type": "object", "minProperties": 1, "maxProperties": 50,
                                                    "propertyNames": {"minLength": 1, "maxLength": 100},
                                                    "additionalProperties": {"type": "string", "maxLength": 5000}}}},
            "Recorded": {"type": "object", "properties": {"recorded": {"type": "boolean"}}},
            "NewProvider": {"type": "object", "additionalProperties": False,
                            "required": ["name", "service_types", "area", "contact"], "properties": {
                                "name": {"type": "string"}, "service_types": {"type": "array", "items": _ref("ServiceType")},
                                "area": {"type": "string"}, "contact": {"type": "string"}}},
            "Provider": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                "service_types": {"type": "array", "items": _ref("ServiceType")}, "area": {"type": "string"},
                "contact": {"type": "string"}}},
            "NewReferral": {"type": "object", "additionalProperties": False, "required": ["provider_id", "service_type"],
                            "properties": {"provider_id": {"type": "string", "format": "uuid"},
                                           "service_type": _ref("ServiceType"),
                                           "urgency": {"enum": ["routine", "urgent"]}, "notes": {"type": ["string", "null"]}}},
            "Referral": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "case_id": {"type": "string", "format": "uuid"},
                "case_number": {"type": "string"}, "provider_id": {"type": "string", "format": "uuid"},
                "service_type": _ref("ServiceType"), "urgency": {"enum": ["routine", "urgent"]},
                "notes": {"type": ["string", "null"]},
                "status": {"enum": ["requested", "accepted", "declined", "completed", "withdrawn"]},
                "reason": {"type": ["string", "null"]}, "outcome": {"type": ["string", "null"]}}},
            "Notification": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"},
                "type": {"enum": ["approval_requested", "approval_decided", "follow_up_overdue", "referral_received",
                                  "referral_updated", "case_reassigned"]},
                "case_id": {"type": ["string", "null"], "format": "uuid"}, "case_number": {"type": "string"},
                "message": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                "read": {"type": "boolean"}}},
            "ApprovalPolicy": {"type": "object", "additionalProperties": False, "required": ["case_plan", "closure"],
                               "properties": {"case_plan": {"enum": ["always", "high_risk", "never"]},
                                              "closure": {"enum": ["always", "high_risk", "never"]}}},
            "Decision": {"type": "object", "additionalProperties": False, "required": ["decision"], "properties": {
                "decision": {"enum": ["approve", "reject"]}, "comment": {"type": ["string", "null"]}}},
            "ApprovalRequest": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "case_id": {"type": "string", "format": "uuid"},
                "case_number": {"type": "string"}, "type": {"enum": ["case_plan", "closure"]},
                "requested_by": {"type": "string"}, "requested_at": {"type": "string", "format": "date-time"},
                "status": {"enum": ["pending", "approved", "rejected"]}, "decided_by": {"type": "string"},
                "comment": {"type": ["string", "null"]}}},
            "CaseList": {"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object"}},
                "next_cursor": {"type": ["string", "null"]}}},
        },
    },
}

# Every route that takes a body may refuse it as malformed, too large or not JSON.
for _path in OPENAPI["paths"].values():
    for _operation in _path.values():
        if "requestBody" in _operation:
            _operation["responses"].update(_problems(400, 413, 415))
