"""Issue 19, organisations: each approval request's organisation (its case's). Added with the first
organisation as its default, so every request made before organisations is the first organisation's;
the default is then dropped: each later request's row names its own.

Revision ID: approvals_0002
Revises: approvals_0001
"""
from shared.migrations import execute
from shared.organisations import FIRST

revision = "approvals_0002"
down_revision = "approvals_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        f"ALTER TABLE {{schema}}.approval_queue ADD COLUMN IF NOT EXISTS organisation uuid DEFAULT '{FIRST}'",
        "ALTER TABLE {schema}.approval_queue ALTER COLUMN organisation DROP DEFAULT",
    )
