"""Signing in, and the people who use Casetrail: users and their preferences."""
from services.gateway import policy, views
from services.gateway.auth import Unauthorized
from services.gateway.http import json_body, respond, route
from services.gateway.openapi import OPENAPI
from services.gateway.policy import Administration
from services.gateway.routes.base import Gateway
from services.gateway.schemas import CreateUserSchema, PreferencesSchema, TokenRequestSchema
from shared.validation import clean, load


class PeopleRoutes(Gateway):
    @route("GET", "/v1/openapi.json", authenticated=False)
    def openapi(self, request):
        return respond(200, OPENAPI)

    @route("POST", "/v1/auth/token", authenticated=False)
    def token(self, request):
        credentials = load(TokenRequestSchema(), json_body(request))
        self.throttle.check(credentials["username"])
        user = self.identity.authenticate(credentials["username"], credentials["password"])
        if user is None:
            self.throttle.failed(credentials["username"])
            raise Unauthorized("Wrong username or password.")
        self.throttle.succeeded(credentials["username"])
        return respond(200, views.token(self.tokens.issue(user), self.tokens.ttl_seconds))

    @route("POST", "/v1/users")
    def create_user(self, request, caller):
        policy.check(caller, Administration.CREATE_USER)
        user = self.identity.create_user(caller, clean(CreateUserSchema(), json_body(request)))
        return respond(201, views.user(user))

    @route("GET", "/v1/users/me")
    def me(self, request, caller):
        return respond(200, views.user(self.identity.user(caller.username)))

    @route("PUT", "/v1/users/me/preferences")
    def set_preferences(self, request, caller):
        user = self.identity.set_preferences(caller, load(PreferencesSchema(), json_body(request)))
        return respond(200, views.user(user))
