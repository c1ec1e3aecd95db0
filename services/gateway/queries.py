"""What the gateway reads about people: the caller an access token stands for, as every service is
told of them (role, team, supervisor, fellow caseworkers, provider, organisation); and the list of
organisations (a table written in the same transaction as each organisation's creation)."""
from typing import TYPE_CHECKING

from services.gateway.domain import Organisation, User
from shared.caller import Caller
from shared.vocabulary import Role

if TYPE_CHECKING:
    from services.gateway.application import Identity

# The organisations table (one row per organisation, written with its OrganisationCreated event;
# `seq` orders the list and is its cursor): services/gateway/migrations.


def organisation_row(store: "Identity", organisation: Organisation) -> tuple:
    """The statement that lists a new organisation, to commit with its creation."""
    return (store.sql("INSERT INTO {schema}.organisations (id, name, created_at) VALUES (%s, %s, now())"),
            (organisation.id, organisation.name))


def organisations(store: "Identity", after: int, limit: int) -> tuple[list[dict], int | None]:
    """Organisations in the order they were created, after the cursor; and the next cursor, if more."""
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT seq, id, name FROM {schema}.organisations WHERE seq > %s"
                               " ORDER BY seq LIMIT %s"), (after, limit + 1))
        rows = curs.fetchall()
    page = rows[:limit]
    return page, (page[-1]["seq"] if len(rows) > limit else None)


class Callers:
    def __init__(self, identity: "Identity"):
        self.identity = identity

    def caller(self, username: str, correlation_id: str) -> Caller | None:
        """The user as a caller, or None if there is no such user."""
        user = self.identity.user(username)
        if user is None:
            return None
        return Caller(username=user.username, role=Role(user.role), team=tuple(user.team),
                      supervisor=user.supervisor, teammates=tuple(self.teammates_of(user)),
                      provider_id=str(user.provider_id) if user.provider_id else None,
                      correlation_id=correlation_id, organisation=user.organisation)

    def teammates_of(self, user: User) -> list[str]:
        """A caseworker's fellow caseworkers (their supervisor's team): who may collect feedback on their cases."""
        supervisor = (self.identity.user(user.supervisor)
                      if user.role == Role.CASEWORKER and user.supervisor else None)
        return [name for name in supervisor.team if name != user.username] if supervisor else []
