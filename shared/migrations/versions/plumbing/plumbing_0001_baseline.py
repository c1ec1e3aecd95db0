"""Baseline of the plumbing every service's schema holds: `positions`, `inbox`, `idempotency`, the audit
hash chains (`audit_chain`, `audit_heads`) and `quarantine`, as the release before migrations made
them at every start (shared/store.py SUPPORT_TABLES, shared/quarantine.py TABLES), statement by
statement and in that order, so that a schema made by an earlier release is adopted as it is.

Revision ID: plumbing_0001
Revises:
"""
from shared.migrations import execute

revision = "plumbing_0001"
down_revision = None
branch_labels = ("plumbing",)
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.positions ("
        " follower text PRIMARY KEY, position bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.inbox ("
        " consumer text NOT NULL, event_id uuid NOT NULL,"
        " processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id))",
        "CREATE TABLE IF NOT EXISTS {schema}.idempotency ("
        " username text NOT NULL, key text NOT NULL, request_hash text NOT NULL,"
        " aggregate_id uuid NOT NULL, version integer NOT NULL, status integer NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (username, key))",
        "CREATE TABLE IF NOT EXISTS {schema}.audit_chain ("
        " chain_id uuid NOT NULL, sequence bigint NOT NULL, originator_id uuid NOT NULL,"
        " originator_version integer NOT NULL, hash text NOT NULL, PRIMARY KEY (chain_id, sequence),"
        " UNIQUE (originator_id, originator_version))",
        "CREATE TABLE IF NOT EXISTS {schema}.audit_heads ("
        " chain_id uuid PRIMARY KEY, sequence bigint NOT NULL, hash text NOT NULL)",
        # Where a follower sets aside an event it cannot handle (shared/quarantine.py).
        "CREATE TABLE IF NOT EXISTS {schema}.quarantine ("
        " id bigserial PRIMARY KEY, follower text NOT NULL, aggregate_id uuid, event_id uuid,"
        " event_type text NOT NULL, notification_id bigint, originator_version integer,"
        " body bytea NOT NULL, content_type text, status text NOT NULL, attempts integer NOT NULL,"
        " error text NOT NULL, blocked_by bigint, set_aside_at timestamptz NOT NULL DEFAULT now(),"
        " resolved_at timestamptz)",
        "CREATE INDEX IF NOT EXISTS quarantine_open ON {schema}.quarantine (follower, aggregate_id)"
        " WHERE status <> 'resolved'",
        # A bus event's signature by its source (shared/identity.py): kept so that a retry is checked as the
        # first arrival was.
        "ALTER TABLE {schema}.quarantine ADD COLUMN IF NOT EXISTS signature text",
    )
