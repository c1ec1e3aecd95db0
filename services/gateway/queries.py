"""What the gateway reads about people: the caller an access token stands for, as every service is
told of them (role, team, supervisor, fellow caseworkers, provider)."""
from services.gateway.application import Identity
from services.gateway.domain import User
from shared.caller import Caller
from shared.vocabulary import Role


class Callers:
    def __init__(self, identity: Identity):
        self.identity = identity

    def caller(self, username: str, correlation_id: str) -> Caller | None:
        """The user as a caller, or None if there is no such user."""
        user = self.identity.user(username)
        if user is None:
            return None
        return Caller(username=user.username, role=Role(user.role), team=tuple(user.team),
                      supervisor=user.supervisor, teammates=tuple(self.teammates_of(user)),
                      provider_id=str(user.provider_id) if user.provider_id else None,
                      correlation_id=correlation_id)

    def teammates_of(self, user: User) -> list[str]:
        """A caseworker's fellow caseworkers (their supervisor's team): who may collect feedback on their cases."""
        supervisor = (self.identity.user(user.supervisor)
                      if user.role == Role.CASEWORKER and user.supervisor else None)
        return [name for name in supervisor.team if name != user.username] if supervisor else []
