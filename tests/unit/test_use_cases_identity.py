"""The gateway's identity use cases (services/gateway/application.py `Identity`), in memory: users created
by an admin, teams, logging in, the first admin, preferences, and what the bus is told of people."""
import pytest

from services.gateway.application import public_event
from services.gateway.queries import Callers
from services.gateway.schemas import CreateUserSchema, PreferencesSchema
from shared.caller import Caller
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.validation import clean, load
from shared.vocabulary import Role
from tests import memory

pytestmark = pytest.mark.usefixtures("no_database")

ADMIN = Caller(username="admin", role=Role.ADMIN)
PASSWORD = "a-long-password"


@pytest.fixture
def identity():
    store = memory.identity()
    assert store.ensure_admin("admin", "admin-password")
    return store


def create(identity, caller=ADMIN, **data):
    return identity.create_user(caller, clean(CreateUserSchema, {
        "password": PASSWORD, "display_name": "Someone", **data}), provider_exists=lambda provider_id: True)


def test_only_an_admin_creates_users_and_a_caseworker_joins_their_supervisors_team(identity):
    create(identity, username="sup1", role="supervisor")
    with pytest.raises(Forbidden):
        create(identity, Caller(username="sup1", role=Role.SUPERVISOR), username="cw1", role="caseworker",
               supervisor="sup1")
    with pytest.raises(InvalidInput, match="needs a supervisor"):
        create(identity, username="cw1", role="caseworker")
    with pytest.raises(InvalidInput, match="No supervisor"):
        create(identity, username="cw1", role="caseworker", supervisor="admin")
    create(identity, username="cw1", role="caseworker", supervisor="sup1")
    create(identity, username="cw2", role="caseworker", supervisor="sup1")
    assert identity.user("sup1").team == ["cw1", "cw2"]
    # The caller each token stands for: a supervisor's team, a caseworker's supervisor and teammates.
    callers = Callers(identity)
    assert callers.caller("sup1", "c").team == ("cw1", "cw2")
    cw1 = callers.caller("cw1", "c")
    assert (cw1.supervisor, cw1.teammates) == ("sup1", ("cw2",))
    assert callers.caller("nobody", "c") is None


def test_a_username_is_taken_once_and_a_retried_create_gets_the_first_user(identity):
    first = create(identity, username="aud1", role="auditor")
    assert create(identity, username="aud1", role="auditor").version == first.version  # the same request again
    with pytest.raises(Conflict, match="taken"):
        create(identity, username="aud1", role="admin")
    with pytest.raises(Conflict, match="taken"):
        identity.create_user(ADMIN, clean(CreateUserSchema, {"username": "aud1", "password": "another-password",
                                                                "role": "auditor", "display_name": "Someone"}),
                             provider_exists=lambda provider_id: True)


def test_logging_in_needs_the_right_password_and_the_first_admin_is_made_once(identity):
    create(identity, username="aud1", role="auditor")
    assert identity.authenticate("aud1", PASSWORD).username == "aud1"
    assert identity.authenticate("aud1", "wrong-password") is None
    assert identity.authenticate("nobody", PASSWORD) is None
    assert not identity.ensure_admin("admin", "another-password")  # made already
    assert identity.authenticate("admin", "admin-password") is not None


def test_preferences_change_only_when_they_change_and_the_bus_never_hears_a_password(identity):
    create(identity, username="aud1", role="auditor", email="aud1@example.org")
    me = Caller(username="aud1", role=Role.AUDITOR)
    version = identity.user("aud1").version
    identity.set_preferences(me, load(PreferencesSchema, {"email_notifications": True}))
    assert identity.user("aud1").version == version  # nothing changed: nothing recorded
    assert identity.set_preferences(me, {"email_notifications": False}).email_notifications is False
    told = memory.published(identity, public_event)
    assert [e["event_type"] for e in told] == ["UserRegistered", "UserRegistered", "UserPreferencesChanged"]
    assert all(PASSWORD not in str(e) and "password" not in str(e["payload"]) for e in told)
    assert told[1]["payload"]["email"] == "aud1@example.org"


def test_the_caller_is_read_fresh_though_this_process_keeps_copies_of_users(identity):
    create(identity, username="sup1", role="supervisor")
    create(identity, username="cw1", role="caseworker", supervisor="sup1")
    callers = Callers(identity)
    assert callers.caller("cw1", "c").teammates == ()
    assert callers.caller("cw1", "c") is not None  # now from the copies: the same answer
    create(identity, username="cw2", role="caseworker", supervisor="sup1")  # the supervisor's stream moves on
    assert callers.caller("cw1", "c").teammates == ("cw2",)
    cw2 = identity.user("cw2")  # deactivated (Identity.deactivate also ends sessions: SQL, not in memory)
    cw2.deactivate(by=ADMIN.recorded())
    identity.save(cw2)  # the user's own stream moves on
    assert callers.caller("cw2", "c") is None
    assert Callers(identity).caller("cw2", "c") is None
