"""Issue 19, organisations: each listed case's organisation. Added with the first organisation as its
default, so every case listed before organisations is the first organisation's; the default is then
dropped: each case registered since names its own (the projection always writes it).

Revision ID: cases_0002
Revises: cases_0001
"""
from shared.migrations import execute
from shared.organisations import FIRST

revision = "cases_0002"
down_revision = "cases_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        f"ALTER TABLE {{schema}}.case_index ADD COLUMN IF NOT EXISTS organisation uuid DEFAULT '{FIRST}'",
        "ALTER TABLE {schema}.case_index ALTER COLUMN organisation DROP DEFAULT",
        "CREATE INDEX IF NOT EXISTS case_index_organisation ON {schema}.case_index"
        " (organisation, assigned_to, case_number)",
    )
