"""Issue 19, staff: whether a person still works here (a deactivated one is told nothing), and the
versions of the gateway's user their details and their status come from, so that a late event never
undoes a newer one. Everyone known before is active.

Revision ID: notifications_0002
Revises: notifications_0001
"""
from shared.migrations import execute

revision = "notifications_0002"
down_revision = "notifications_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true",
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS details_version integer NOT NULL DEFAULT 0",
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS active_version integer NOT NULL DEFAULT 0",
    )
