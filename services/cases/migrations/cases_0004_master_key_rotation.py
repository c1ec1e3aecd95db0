"""Issue 22, master key rotation (services/cases/keyring.py): which master key wraps each case key,
by fingerprint, so `casetrail-audit rotate-master-key` finds the keys still under an old one and a
read unwraps with the right one; NULL for keys wrapped before (whichever held key opens them).
`master_key_rotations` records each rotation run: who, from and to which keys (fingerprints only),
how many keys it re-wrapped, how many were left.

Revision ID: cases_0004
Revises: cases_0003
"""
from shared.migrations import execute

revision = "cases_0004"
down_revision = "cases_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        "ALTER TABLE {schema}.case_keys ADD COLUMN IF NOT EXISTS master_key_id text",
        # Only live keys are ever re-wrapped or counted: erased rows stay out of the index.
        "CREATE INDEX IF NOT EXISTS case_keys_master_key ON {schema}.case_keys (master_key_id, case_id)"
        " WHERE wrapped_key IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS {schema}.master_key_rotations (id bigserial PRIMARY KEY,"
        " started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, operator text NOT NULL,"
        " to_key_id text NOT NULL, held_key_ids text[] NOT NULL, rewrapped integer NOT NULL DEFAULT 0,"
        " remaining integer)",
    )
