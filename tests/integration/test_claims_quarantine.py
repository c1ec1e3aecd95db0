"""README, "Poison events": what an operator's `show` and `retry` promise, on a projection of a cases
store (its own schema) whose poison event is set aside: `show` gives a stored event's type, size and
SHA-256 and never decrypts it; `retry` waits for the outcome and exits 1 when the entry fails again."""
import hashlib
import json

import eventlet

from shared import quarantine_cli
from shared.outbox import Projector
from shared.quarantine import Status
from tests.integration.test_outbox import SURVIVOR
from tests.integration.test_quarantine import Applied, entries, new_case
from tests.support import wait_until


def set_aside(store):
    """A case whose registration its projection cannot apply: quarantined at the first attempt."""
    case = new_case(store)
    projector = Projector(store, Applied({case.id}), max_attempts=1)
    projector.step()
    [entry] = entries(store, "applied")
    assert entry.status == Status.QUARANTINED
    return case, projector, entry


def test_show_gives_a_stored_events_type_size_and_hash_and_never_decrypts_it(store, capsys):
    case, _, entry = set_aside(store)
    assert quarantine_cli.main(["show", "cases", str(entry.id)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert (shown["event_type"], shown["aggregate_id"]) == ("CaseRegistered", str(case.id))
    assert shown["stored_event"] == {"topic": entry.content_type, "bytes": len(entry.body),
                                     "sha256": hashlib.sha256(entry.body).hexdigest()}
    for planted in (*SURVIVOR.values(), "private notes"):
        assert planted not in out


def test_a_retry_that_fails_again_exits_1_and_leaves_the_entry_in_quarantine(store, capsys):
    _, projector, entry = set_aside(store)
    operator = eventlet.spawn(quarantine_cli.main, ["retry", "cases", str(entry.id), "--wait", "20"])
    wait_until(lambda: entries(store, "applied")[0].status == Status.RETRYING, what="the entry handed back")
    projector.step()  # the follower tries it again, and it fails again: the fix was not enough

    assert operator.wait() == 1
    assert f"{entry.id}: failed again" in capsys.readouterr().out
    [again] = entries(store, "applied")
    assert (again.status, again.attempts) == (Status.QUARANTINED, 2)
