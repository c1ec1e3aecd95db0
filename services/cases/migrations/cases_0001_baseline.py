"""Baseline of the cases service's own tables: the case list (`case_index`, kept by following the
log), each case's referrals as the referrals service announces them (`case_referrals`), the wrapped
per-case keys (`case_keys`) and the case number sequence, as the release before migrations made them
at every start (services/cases/store.py), statement by statement and in that order.

Revision ID: cases_0001
Revises:
"""
from shared.migrations import execute

revision = "cases_0001"
down_revision = None
branch_labels = ("cases",)
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.case_index ("
        " case_id uuid PRIMARY KEY, case_number text NOT NULL UNIQUE, stage text NOT NULL,"
        " risk_level text NOT NULL, assigned_to text NOT NULL, is_child boolean NOT NULL,"
        " next_due timestamptz, overdue_flagged timestamptz, version integer NOT NULL,"
        " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS case_index_assigned ON {schema}.case_index (assigned_to, case_number)",
        # Only open cases whose current due time has not been flagged: what the overdue scan reads.
        "CREATE INDEX IF NOT EXISTS case_index_unflagged_due ON {schema}.case_index (next_due)"
        " WHERE stage <> 'closed' AND next_due IS DISTINCT FROM overdue_flagged",
        # Each case's referrals and their status, as the referrals service announces them.
        "CREATE TABLE IF NOT EXISTS {schema}.case_referrals (referral_id uuid PRIMARY KEY, case_id uuid NOT NULL,"
        " provider_id uuid NOT NULL, service_type text NOT NULL, status text NOT NULL, version integer NOT NULL)",
        "CREATE INDEX IF NOT EXISTS case_referrals_case ON {schema}.case_referrals (case_id)",
        # Each case's key, wrapped under CASES_MASTER_KEY (services/cases/protection.py); NULL once erased.
        "CREATE TABLE IF NOT EXISTS {schema}.case_keys (case_id uuid PRIMARY KEY, wrapped_key bytea,"
        " created_at timestamptz NOT NULL DEFAULT now(), erased_at timestamptz)",
        "CREATE SEQUENCE IF NOT EXISTS {schema}.case_number_seq",
    )
