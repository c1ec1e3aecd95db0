"""Issue 19, organisations: each case's organisation, as its registration announces it. Added with the
first organisation as its default, so every row there when the column is added (cases registered
before organisations) is the first organisation's; the default is then dropped, so a row made later is
NULL (not known) until its case's registration sets it.

Revision ID: case_state_0002
Revises: case_state_0001
"""
from shared.migrations import execute
from shared.organisations import FIRST

revision = "case_state_0002"
down_revision = "case_state_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        f"ALTER TABLE {{schema}}.case_state ADD COLUMN IF NOT EXISTS organisation uuid DEFAULT '{FIRST}'",
        "ALTER TABLE {schema}.case_state ALTER COLUMN organisation DROP DEFAULT",
    )
