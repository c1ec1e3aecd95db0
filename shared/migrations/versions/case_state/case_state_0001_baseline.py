"""Baseline of `case_state`: each case as the cases service announces it, kept by the services that
decide access on a case's behalf (referrals, approvals; shared/case_state.py), as the release before
migrations made it at every start.

Revision ID: case_state_0001
Revises:
"""
from shared.migrations import execute

revision = "case_state_0001"
down_revision = None
branch_labels = ("case_state",)
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.case_state (case_id uuid PRIMARY KEY, assigned_to text,"
        " assigned_version integer NOT NULL DEFAULT 0, closed boolean NOT NULL DEFAULT false,"
        " closed_version integer NOT NULL DEFAULT 0, erased boolean NOT NULL DEFAULT false)",
    )
