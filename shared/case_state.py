"""Each case as the cases service announces it (who holds it, closed, erased), kept by the other
services that decide access on a case's behalf (referrals, approvals) in a `case_state` table of
their own. Each aspect keeps the version of the event that set it, so a late or redelivered event
never moves it back; erasure is for good. A case's organisation is set by its registration and
never changes (issue 19); until the registration arrives it is NULL: not known yet."""
from shared.organisations import organisation_or_first

CASE_EVENTS = ("CaseRegistered", "CaseReassigned", "CaseClosed", "CaseReopened", "CaseErased")
# The table: shared/migrations/versions/case_state.
_CHANGES = {  # event type -> (column, its version column, the value it takes)
    "CaseRegistered": ("assigned_to", "assigned_version", lambda payload: payload["assigned_to"]),
    "CaseReassigned": ("assigned_to", "assigned_version", lambda payload: payload["assigned_to"]),
    "CaseClosed": ("closed", "closed_version", lambda payload: True),
    "CaseReopened": ("closed", "closed_version", lambda payload: False),
}


def record(store, curs, envelope: dict) -> None:
    """Applies one of CASE_EVENTS to the store's `case_state` table, in the caller's transaction."""
    kind, case_id = envelope["event_type"], envelope["aggregate_id"]
    if kind == "CaseErased":
        curs.execute(store.sql("INSERT INTO {schema}.case_state (case_id, erased) VALUES (%s, true)"
                               " ON CONFLICT (case_id) DO UPDATE SET erased = true"), (case_id,))
        return
    if kind == "CaseRegistered":  # issue 19: organisations. Set once, by the registration; never changes.
        curs.execute(store.sql("INSERT INTO {schema}.case_state (case_id, organisation) VALUES (%s, %s)"
                               " ON CONFLICT (case_id) DO UPDATE SET organisation = EXCLUDED.organisation"),
                     (case_id, organisation_or_first(envelope["payload"].get("organisation"))))
    column, version_column, value = _CHANGES[kind]
    curs.execute(store.sql(
        f"INSERT INTO {{schema}}.case_state (case_id, {column}, {version_column}) VALUES (%s, %s, %s)"
        f" ON CONFLICT (case_id) DO UPDATE SET {column} = EXCLUDED.{column},"
        f" {version_column} = EXCLUDED.{version_column}"
        f" WHERE case_state.{version_column} < EXCLUDED.{version_column}"),
        (case_id, value(envelope["payload"]), envelope["aggregate_version"]))


def organisation_of(store, curs, case_id) -> str | None:
    """The case's organisation as this store heard it from the cases service; None: not yet heard."""
    curs.execute(store.sql("SELECT organisation FROM {schema}.case_state WHERE case_id = %s"), (case_id,))
    row = curs.fetchone()
    return str(row["organisation"]) if row and row["organisation"] else None
