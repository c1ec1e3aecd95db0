"""Baseline of the approvals service's own table: the approval queue (kept by following the log), as
the release before migrations made it at every start (services/approvals/queries.py), statement by
statement and in that order. `case_state` is the shared case_state history.

Revision ID: approvals_0001
Revises:
"""
from shared.migrations import execute

revision = "approvals_0001"
down_revision = None
branch_labels = ("approvals",)
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.approval_queue ("
        " approval_id uuid PRIMARY KEY, case_id uuid NOT NULL, case_number text NOT NULL, kind text NOT NULL,"
        " requested_by text NOT NULL, requested_at timestamptz NOT NULL, status text NOT NULL,"
        " decided_by text, decided_at timestamptz)",
        "CREATE INDEX IF NOT EXISTS approval_queue_requester ON {schema}.approval_queue"
        " (requested_by, status, requested_at)",
        "ALTER TABLE {schema}.approval_queue ADD COLUMN IF NOT EXISTS requester_role text",
    )
