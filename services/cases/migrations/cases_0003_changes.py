"""Issue 20, the changes feed for offline sync (GET /v1/changes): each case's latest change, and who
each case left, kept by following the log (services/cases/queries.py CaseChanges, a projection of its
own: on its first start it follows the log from the beginning, so cases recorded before are there too).

`position` comes from `case_change_seq`, taken only by that projection while it holds its place in
`positions` FOR UPDATE: positions commit in the order they are taken, so a cursor never passes over a
change committed later with a lower position.

Revision ID: cases_0003
Revises: cases_0002
"""
from shared.migrations import execute

revision = "cases_0003"
down_revision = "cases_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE SEQUENCE IF NOT EXISTS {schema}.case_change_seq",
        # One row per case: who holds it now, its file's version, and the position of its latest change
        # (to its file, its consent, or what other services did to it).
        "CREATE TABLE IF NOT EXISTS {schema}.case_changes (case_id uuid PRIMARY KEY, case_number text NOT NULL,"
        " organisation uuid NOT NULL, assigned_to text NOT NULL, version integer NOT NULL, position bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS case_changes_scope ON {schema}.case_changes (organisation, assigned_to, position)",
        "CREATE INDEX IF NOT EXISTS case_changes_position ON {schema}.case_changes (position)",
        # One row per case and caseworker it was taken from: the latest time it left them.
        "CREATE TABLE IF NOT EXISTS {schema}.case_departures (case_id uuid NOT NULL, caseworker text NOT NULL,"
        " organisation uuid NOT NULL, version integer NOT NULL, position bigint NOT NULL,"
        " PRIMARY KEY (case_id, caseworker))",
        "CREATE INDEX IF NOT EXISTS case_departures_scope ON {schema}.case_departures"
        " (organisation, caseworker, position)",
        "CREATE INDEX IF NOT EXISTS case_departures_position ON {schema}.case_departures (position)",
    )
