"""Signing in and out (sessions and their refresh tokens), and the people who use Casetrail: a user
creates nothing but reads themselves, sets their preferences and changes their password."""
from werkzeug.wrappers import Response

from services.gateway import policy, views
from services.gateway.apidoc import doc
from services.gateway.application import WrongPassword
from services.gateway.auth import Unauthorized
from services.gateway.http import json_body, respond, route
from services.gateway.openapi import document
from services.gateway.policy import Administration
from services.gateway.responses import TokenView, UserView
from services.gateway.routes.base import Gateway
from services.gateway.schemas import (
    CreateUserSchema,
    PasswordChangeSchema,
    PreferencesSchema,
    RefreshSchema,
    TokenRequestSchema,
)
from shared.logs import correlation_id
from shared.validation import clean, load


class PeopleRoutes(Gateway):
    """Logging in and out (sessions and their refresh tokens), and the caller: who they are, their
    preferences, their password. Also this document."""
    tag = "sessions and the caller"

    @doc("This document: the gateway's API, OpenAPI 3.1")
    @route("GET", "/v1/openapi.json", authenticated=False)
    def openapi(self, request):
        return respond(200, document(type(self)))

    @doc("Log in: exchange a username and password for an access token and a refresh token",
         body=TokenRequestSchema, returns=TokenView, errors=(401, 429),
         example={"username": "cw1", "password": "a long passphrase"})
    @route("POST", "/v1/auth/token", authenticated=False)
    def token(self, request):
        """A new session. A retry with the Idempotency-Key gets the first answer, and only with the
        same username and password: any other is a login attempt of its own."""
        credentials = load(TokenRequestSchema, json_body(request))
        username, password = credentials["username"], credentials["password"]
        return self.once(request, self.answers.login(username, password),
                         lambda: self._login(username, password, request.remote_addr), credentials)

    def _login(self, username: str, password: str, address: str | None):
        throttle = self.throttle
        throttle.check(username, address)
        user = self.identity.authenticate(username, password)
        if user is None:
            throttle.failed(username, address)
            raise Unauthorized("Wrong username or password.")
        throttle.succeeded(username)
        session_id, refresh_token = self.sessions.start(user.username)
        return respond(200, views.token(self.tokens.issue(user, session_id), self.tokens.ttl_seconds, refresh_token))

    @doc("A new access and refresh token for a refresh token", body=RefreshSchema, returns=TokenView,
         errors=(401,), example={"refresh_token": "the refresh_token of the last login or refresh"})
    @route("POST", "/v1/auth/refresh", authenticated=False)
    def refresh(self, request):
        """A new pair for a refresh token that works once; a reused one ends its session. A client that
        lost the answer and retries with the Idempotency-Key gets the same pair: not a reuse."""
        body = load(RefreshSchema, json_body(request))
        presented = body["refresh_token"]
        return self.once(request, self.answers.refresh(presented), lambda: self._refreshed(presented), body)

    def _refreshed(self, presented: str):
        session_id, username, refresh_token = self.sessions.refresh(presented)
        user = self.identity.user(username)
        if user is None or not user.active:
            self.sessions.end(str(session_id), "deactivated")
            raise Unauthorized("The refresh token is invalid, expired or used; log in again.")
        return respond(200, views.token(self.tokens.issue(user, session_id), self.tokens.ttl_seconds, refresh_token))

    @doc("Log out: the access token and its refresh token stop working", status=204, signed_in=True,
         takes=("Idempotency-Key",))
    @route("POST", "/v1/auth/logout", authenticated=False)
    def logout(self, request):
        """Ends the token's session. Its retry with the Idempotency-Key, for the same session, gets 204
        again, though the token no longer works (without the key, it gets 401)."""
        claims = self.bearer_claims(request)

        def end():
            caller = self.caller_for(request, correlation_id.get() or "")
            self.sessions.end(caller.extra["session_id"])
            return Response(status=204)
        return self.once(request, self.answers.session(claims.session_id), end)

    @doc("Create a user (admin); the password is never shown back", body=CreateUserSchema, status=201,
         returns=UserView, errors=(409,), example={
             "username": "cw1", "password": "a long passphrase", "role": "caseworker", "display_name": "Case Worker",
             "supervisor": "sup1", "email": "cw1@agency.example"})
    @route("POST", "/v1/users")
    def create_user(self, request, caller):
        policy.check(caller, Administration.CREATE_USER)
        data = clean(CreateUserSchema, json_body(request))
        return self.once(request, self.answers.user(caller.username), lambda: respond(201, views.user(
            self.identity.create_user(caller, data, self.provider_exists(caller)))), data)

    @doc("The caller", returns=UserView)
    @route("GET", "/v1/users/me")
    def me(self, request, caller):
        return respond(200, views.user(self.identity.user(caller.username)))

    @doc("Set the caller's notification preferences", body=PreferencesSchema, returns=UserView,
         example={"email_notifications": False})
    @route("PUT", "/v1/users/me/preferences")
    def set_preferences(self, request, caller):
        user = self.identity.set_preferences(caller, load(PreferencesSchema, json_body(request)))
        return respond(200, views.user(user))

    @doc("Change the caller's password; their other sessions end", body=PasswordChangeSchema, status=204,
         errors=(429,), example={"current_password": "the current one", "new_password": "a new long passphrase"})
    @route("POST", "/v1/users/me/password")
    def change_password(self, request, caller):
        """The caller's own password; their other sessions end. A wrong current password counts as a
        failed login of the account (a stolen token must not become a way to guess the password)."""
        data = load(PasswordChangeSchema, json_body(request))

        def change():
            throttle = self.throttle
            throttle.check(caller.username)
            try:
                self.identity.change_password(caller, data["current_password"], data["new_password"])
            except WrongPassword:
                throttle.failed(caller.username)
                raise
            return Response(status=204)
        return self.once(request, self.answers.user(caller.username), change, data)
