"""What the gateway reads about people: the caller an access token stands for, as every service is
told of them (role, team, supervisor, fellow caseworkers, provider, organisation); the list of
organisations (a table written in the same transaction as each organisation's creation); the list of
users an admin pages through (kept by following the log); and the tables of sessions and failed
logins, which every gateway instance shares (auth.py). The tables: services/gateway/migrations."""
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.gateway.domain import Organisation, User
from shared.caller import Caller
from shared.organisations import organisation_or_first
from shared.outbox import Projection
from shared.paging import Cursors, PageSchema
from shared.validation import load
from shared.vocabulary import Role

if TYPE_CHECKING:
    from services.gateway.application import Identity

# The organisations table (one row per organisation, written with its OrganisationCreated event;
# `seq` orders the list and is its cursor): services/gateway/migrations.


def organisation_row(store: "Identity", organisation: Organisation) -> tuple:
    """The statement that lists a new organisation, to commit with its creation."""
    return (store.sql("INSERT INTO {schema}.organisations (id, name, created_at) VALUES (%s, %s, now())"),
            (organisation.id, organisation.name))


def organisations(store: "Identity", cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """Organisations in the order they were created, after the cursor; and the next cursor, if more."""
    cursors = Cursors(store.settings.cipher_key, "organisations")
    after = cursors.read(cursor, 1)
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT seq, id, name FROM {schema}.organisations WHERE seq > %s"
                               " ORDER BY seq LIMIT %s"), (after[0] if after else 0, limit + 1))
        rows = curs.fetchall()
    return rows[:limit], (cursors.make(rows[limit - 1]["seq"]) if len(rows) > limit else None)


def organisation_of_created(event) -> str | None:
    """The organisation a created user joined: the admin none; one created before organisations, the first."""
    if event.role == "admin":
        return None
    return organisation_or_first(getattr(event, "organisation", None))


class UserList(Projection):
    """The users an admin pages through, by role and whether active, from the User events."""

    name = "user_list"

    def apply(self, store, curs, event) -> None:
        if isinstance(event, User.UserCreated):
            curs.execute(store.sql("INSERT INTO {schema}.user_list (username, role, display_name, email, supervisor,"
                                   " provider_id, active, user_id, organisation)"
                                   " VALUES (%s, %s, %s, %s, %s, %s, true, %s, %s) ON CONFLICT (username) DO NOTHING"),
                         (event.username, event.role, event.display_name, event.email, event.supervisor,
                          str(event.provider_id) if event.provider_id else None, event.originator_id,
                          organisation_of_created(event)))
        elif isinstance(event, User.UserChanged):
            curs.execute(store.sql("UPDATE {schema}.user_list SET role = %s, display_name = %s, email = %s,"
                                   " supervisor = %s, provider_id = %s WHERE user_id = %s"),
                         (event.role, event.display_name, event.email, event.supervisor, event.provider_id,
                          event.originator_id))
        elif isinstance(event, (User.UserDeactivated, User.UserReactivated)):
            curs.execute(store.sql("UPDATE {schema}.user_list SET active = %s WHERE user_id = %s"),
                         (isinstance(event, User.UserReactivated), event.originator_id))


def list_users(identity: "Identity", filters: dict) -> tuple[list[dict], str | None]:
    """Users in username order (unique), after the cursor; and the next cursor, if more."""
    cursors = Cursors(identity.settings.cipher_key, "users")
    where, params = ["true"], []
    for column in ("role", "active", "organisation"):
        if filters.get(column) is not None:
            where.append(f"{column} = %s")
            params.append(filters[column])
    if (after := cursors.read(filters["cursor"], 1)) is not None:
        where.append("username > %s")
        params.append(after[0])
    limit = filters["limit"]
    with identity.datastore.transaction() as curs:
        curs.execute(identity.sql("SELECT username, role, display_name, email, supervisor, provider_id, active,"
                                  " user_id, organisation FROM {schema}.user_list WHERE " + " AND ".join(where) +
                                  " ORDER BY username LIMIT %s"), (*params, limit + 1))
        rows = curs.fetchall()
    return rows[:limit], cursors.make(rows[limit - 1]["username"]) if len(rows) > limit else None


def team_page(identity: "Identity", members: list[User], query: dict) -> tuple[list[User], str | None]:
    """A page of a team (`members` in username order) after the cursor; and the next cursor, if more."""
    paging = load(PageSchema, query)
    cursors = Cursors(identity.settings.cipher_key, "team")
    after = cursors.read(paging["cursor"], 1)
    rest = [member for member in members if after is None or member.username > after[0]]
    limit = paging["limit"]
    return rest[:limit], cursors.make(rest[limit - 1].username) if len(rest) > limit else None


def user_filters(query: dict) -> dict:
    """The list's query parameters (each a string), checked: 422 naming the parameter."""
    from services.gateway.schemas import UserPageSchema
    filters = load(UserPageSchema, query)
    if filters.get("organisation") is not None:
        filters["organisation"] = str(filters["organisation"])
    return filters


class Callers:
    """Who a request's caller is, read fresh on every request (a deactivation or a change of role or team
    counts at once, on every instance) at the cost of one round trip: the newest versions of the user's
    stream and their supervisor's. The aggregates themselves come from `Users`, this process's copies,
    unless those versions moved on (issue 23: each request had replayed both users' events)."""

    def __init__(self, identity: "Identity"):
        self.identity = identity

    def caller(self, username: str, correlation_id: str, session_id: str | None = None) -> Caller | None:
        """The user as a caller, or None if there is no such active user. `extra` holds the session and
        whether the user must set a new password before anything else."""
        user, supervisor = self.identity.users.current(username)
        if user is None or not user.active:
            return None
        teammates = ([name for name in supervisor.team if name != user.username]
                     if supervisor is not None and user.role == Role.CASEWORKER else [])
        return Caller(username=user.username, role=Role(user.role), team=tuple(user.team),
                      supervisor=user.supervisor, teammates=tuple(teammates),
                      provider_id=str(user.provider_id) if user.provider_id else None,
                      correlation_id=correlation_id, organisation=user.organisation,
                      extra={"session_id": session_id, "password_change_required": user.password_change_required})


class Users:
    """The users this process has read, each as of a version: read-only copies, handed out only while their
    stream has no newer event (`current` asks the store first). Bounded: when full it starts again."""

    LIMIT = 10_000

    def __init__(self, identity: "Identity"):
        self.identity = identity
        self.copies: dict[UUID, User] = {}

    def current(self, username: str) -> tuple[User | None, User | None]:
        """The user and, for a caseworker, their supervisor (who knows the team), each as now stored."""
        user_id = User.create_id(username)
        cached = self.copies.get(user_id)
        supervisor_id = self._supervisor_id(cached)
        versions = self.identity.stream_versions([user_id] + ([supervisor_id] if supervisor_id else []))
        user = self._as_of(user_id, versions.get(user_id))
        if self._supervisor_id(user) != supervisor_id:  # a new supervisor, or a user not seen before
            supervisor_id = self._supervisor_id(user)
            versions.update(self.identity.stream_versions([supervisor_id]) if supervisor_id else {})
        return user, (self._as_of(supervisor_id, versions.get(supervisor_id)) if supervisor_id else None)

    def _as_of(self, aggregate_id: UUID, version: int | None) -> User | None:
        if version is None:
            self.copies.pop(aggregate_id, None)
            return None
        copy = self.copies.get(aggregate_id)
        if copy is None or copy.version != version:
            try:
                loaded: object = self.identity.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            if not isinstance(loaded, User):
                return None
            if len(self.copies) >= self.LIMIT:
                self.copies.clear()
            self.copies[aggregate_id] = copy = loaded
        return copy

    @staticmethod
    def _supervisor_id(user: User | None) -> UUID | None:
        """A caseworker's supervisor, whose team holds the caseworker's fellow caseworkers."""
        if user is None or user.role != Role.CASEWORKER or not user.supervisor:
            return None
        return User.create_id(user.supervisor)
