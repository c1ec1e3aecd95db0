"""Issue 19, organisations: one row per organisation, written with its OrganisationCreated event (the
list pages over `seq`); a name is taken once, in any letter case.

Revision ID: gateway_0002
Revises: gateway_0001
"""
from shared.migrations import execute

revision = "gateway_0002"
down_revision = "gateway_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.organisations (seq bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE,"
        " name text NOT NULL, created_at timestamptz NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS organisations_name ON {schema}.organisations (lower(name))",
    )
