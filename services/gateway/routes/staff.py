"""An admin runs the agency's staff: lists and reads users, changes them, deactivates and reactivates
them, resets a forgotten password and unlocks an account locked by failed logins. A supervisor lists
their team."""
from services.gateway import views
from services.gateway.apidoc import doc
from services.gateway.http import json_body, respond, route
from services.gateway.policy import Administration, check
from services.gateway.queries import team_page, user_filters
from services.gateway.responses import TeamPage, TemporaryPasswordView, UserPage, UserView
from services.gateway.routes.base import Gateway
from services.gateway.schemas import (
    ChangeUserSchema,
    NoQuery,
    PageQuerySchema,
    UserListFilterSchema,
    UserListQuerySchema,
)
from shared.caller import Caller
from shared.paging import PageSchema
from shared.validation import clean

ANY_BODY = (400, 413, 415)  # no body is needed, but one sent must be JSON


class StaffRoutes(Gateway):
    """An admin runs the agencies' staff: lists, reads and changes users, deactivates and reactivates them,
    resets a forgotten password, unlocks an account. A supervisor lists their team."""
    tag = "staff"

    @doc("Users, in username order (admin); never a password or its hash", returns=UserPage,
         query=UserListFilterSchema)
    @route("GET", "/v1/users", query=UserListQuerySchema)
    def list_users(self, request, caller, query):
        check(caller, Administration.READ_USERS)
        rows, cursor = self.identity.list_users(caller, user_filters(query))
        return respond(200, {"items": [views.listed_user(row) for row in rows], "next_cursor": cursor})

    @doc("The supervisor's team (supervisor): the active caseworkers they may reassign a case to, in username "
         "order", returns=TeamPage, query=PageSchema)
    @route("GET", "/v1/team", query=PageQuerySchema)
    def team(self, request, caller, query):
        """Only usernames and display names: what naming the caseworker of a reassignment needs. Another
        team's, another organisation's and deactivated users are never listed; anyone but a supervisor: 403."""
        members, cursor = team_page(self.identity, self.identity.team(caller), query)
        return respond(200, {"items": [views.team_member(member) for member in members], "next_cursor": cursor})

    @doc("A user (admin)", returns=UserView)
    @route("GET", "/v1/users/<string:username>", query=NoQuery)
    def read_user(self, request, caller, query, username):
        return respond(200, views.user(self.identity.read_user(caller, username)))

    @doc("Change a user (admin): only the fields given; a change of role or supervisor ends their sessions",
         body=ChangeUserSchema, returns=UserView, errors=(409,), example={"display_name": "C. Worker",
                                                                          "supervisor": "sup2"})
    @route("PATCH", "/v1/users/<string:username>")
    def change_user(self, request, caller, username):
        check(caller, Administration.CHANGE_USER)
        data = clean(ChangeUserSchema, json_body(request))
        user = self.identity.change_user(caller, username, data, self.provider_exists(caller),
                                         self.caseload(caller))
        return respond(200, views.user(user))

    @doc("Deactivate a user (admin): their tokens stop working and they cannot log in; 409 while they hold "
         "open cases or supervise active users", returns=UserView, errors=(409, *ANY_BODY))
    @route("POST", "/v1/users/<string:username>/deactivate")
    def deactivate(self, request, caller, username):
        check(caller, Administration.DEACTIVATE_USER)
        body = json_body(request)  # no body is needed; a body sent must still be JSON
        return self.once(request, self.answers.user(caller.username), lambda: respond(200, views.user(
            self.identity.deactivate(caller, username, self.caseload(caller)))), body)

    @doc("Reactivate a user (admin)", returns=UserView, errors=(409, *ANY_BODY))
    @route("POST", "/v1/users/<string:username>/reactivate")
    def reactivate(self, request, caller, username):
        check(caller, Administration.REACTIVATE_USER)
        body = json_body(request)
        return self.once(request, self.answers.user(caller.username), lambda: respond(200, views.user(
            self.identity.reactivate(caller, username))), body)

    @doc("A temporary password (admin), good only to set a new one; the user's sessions end and the account "
         "is unlocked", returns=TemporaryPasswordView, errors=(409, *ANY_BODY))
    @route("POST", "/v1/users/<string:username>/password-reset")
    def reset_password(self, request, caller, username):
        """A temporary password; the account is unlocked too, so the user can log in with it at once.
        A retry with the Idempotency-Key gets the same temporary password (kept sealed), not another."""
        check(caller, Administration.RESET_PASSWORD)
        body = json_body(request)

        def reset():
            temporary = self.identity.reset_password(caller, username)
            self.throttle.unlock(username)
            return respond(200, {"temporary_password": temporary})
        return self.once(request, self.answers.user(caller.username), reset, body)

    @doc("Lift the lock failed logins put on an account (admin)", returns=UserView, errors=ANY_BODY)
    @route("POST", "/v1/users/<string:username>/unlock")
    def unlock(self, request, caller, username):
        check(caller, Administration.UNLOCK_USER)
        body = json_body(request)

        def unlock():
            user = self.identity.read_user(caller, username)
            self.throttle.unlock(username)
            return respond(200, views.user(user))
        return self.once(request, self.answers.user(caller.username), unlock, body)

    def caseload(self, caller: Caller):
        """The open cases a user holds (the cases service says: a count and case numbers only)."""
        return lambda username: self.ask(self.cases.caseload, caller, username)

