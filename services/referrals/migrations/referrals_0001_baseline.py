"""Baseline of the referrals service's own tables: the directory (`providers`, `referral_index`, kept by
following the log), consent as the cases service announced it (`consent`) and each case's referrals
(`referral_cases`, written with the referral), as the release before migrations made them at every
start (services/referrals/queries.py), statement by statement and in that order. `case_state` is the
shared case_state history.

Revision ID: referrals_0001
Revises:
"""
from shared.migrations import execute

revision = "referrals_0001"
down_revision = None
branch_labels = ("referrals",)
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.providers (provider_id uuid PRIMARY KEY, name text NOT NULL,"
        " service_types text[] NOT NULL, area text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.referral_index (referral_id uuid PRIMARY KEY, case_id uuid NOT NULL,"
        " provider_id uuid NOT NULL, made_by text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS referral_index_case ON {schema}.referral_index (case_id, created_at)",
        "CREATE INDEX IF NOT EXISTS referral_index_provider ON {schema}.referral_index (provider_id, created_at)",
        # Consent as the cases service announced it; `version` orders the consent stream's events.
        "CREATE TABLE IF NOT EXISTS {schema}.consent (case_id uuid PRIMARY KEY, services boolean NOT NULL,"
        " share_with_providers boolean NOT NULL, version integer NOT NULL)",
        # Each case's referrals, written in the transaction that makes the referral.
        "CREATE TABLE IF NOT EXISTS {schema}.referral_cases (referral_id uuid PRIMARY KEY, case_id uuid NOT NULL,"
        " created_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS referral_cases_case ON {schema}.referral_cases (case_id, created_at)",
    )
