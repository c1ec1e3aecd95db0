"""Issue 19, staff: sessions (one row per login; its refresh token only as a SHA-256 hash of a random
secret), failed logins per account ('account:<username>') and per client address ('address:<ip>'),
both shared by every gateway instance; and the users an admin lists (never a password or its hash),
kept by following the log, with each user's organisation.

Revision ID: gateway_0003
Revises: gateway_0002
"""
from shared.migrations import execute

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.sessions (session_id uuid PRIMARY KEY, username text NOT NULL,"
        " refresh_hash text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
        " refreshed_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL,"
        " ended_at timestamptz, ended_why text)",
        "CREATE INDEX IF NOT EXISTS sessions_live ON {schema}.sessions (username) WHERE ended_at IS NULL",
        "CREATE TABLE IF NOT EXISTS {schema}.login_failures (key text PRIMARY KEY, failures integer NOT NULL,"
        " window_start timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.user_list (username text PRIMARY KEY, role text NOT NULL,"
        " display_name text NOT NULL, email text, supervisor text, provider_id text, active boolean NOT NULL,"
        " user_id uuid NOT NULL, organisation uuid)",
    )
