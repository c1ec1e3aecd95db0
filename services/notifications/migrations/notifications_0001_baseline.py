"""Baseline of the notifications service's own tables: each person's inbox and the webhook list (kept
by following the log), the directory of cases and people, the overdue watch, and the delivery queues
(webhooks and e-mail), as the release before migrations made them at every start
(services/notifications/queries.py, deliveries.py), statement by statement and in that order: the
columns added later by ALTER stay where an earlier release put them.

Revision ID: notifications_0001
Revises:
"""
from shared.migrations import execute

revision = "notifications_0001"
down_revision = None
branch_labels = ("notifications",)
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.inbox_items (notification_id uuid PRIMARY KEY, recipient text NOT NULL,"
        " kind text NOT NULL, case_id uuid, case_number text NOT NULL, message text NOT NULL,"
        " created_at timestamptz NOT NULL, read boolean NOT NULL DEFAULT false)",
        "CREATE INDEX IF NOT EXISTS inbox_items_recipient ON {schema}.inbox_items (recipient, created_at DESC)",
        "CREATE TABLE IF NOT EXISTS {schema}.webhooks (webhook_id uuid PRIMARY KEY, events text[] NOT NULL)",
        # What the webhook list shows; a deleted webhook's row is removed.
        "ALTER TABLE {schema}.webhooks ADD COLUMN IF NOT EXISTS url text",
        "ALTER TABLE {schema}.webhooks ADD COLUMN IF NOT EXISTS registered_at timestamptz",
        "CREATE TABLE IF NOT EXISTS {schema}.case_directory ("
        " case_id uuid PRIMARY KEY, case_number text NOT NULL, assigned_to text NOT NULL,"
        " registered_at timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {schema}.people (username text PRIMARY KEY, role text NOT NULL,"
        " supervisor text, provider_id uuid)",
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS email text",
        "ALTER TABLE {schema}.people ADD COLUMN IF NOT EXISTS email_on boolean NOT NULL DEFAULT true",
        # What escalation needs to know of a case: its last follow-up and whether it is closed.
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS last_follow_up_at timestamptz",
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS closed boolean NOT NULL DEFAULT false",
        "CREATE TABLE IF NOT EXISTS {schema}.overdue_watch (case_id uuid NOT NULL, due timestamptz NOT NULL,"
        " escalated boolean NOT NULL DEFAULT false, PRIMARY KEY (case_id, due))",
        "CREATE INDEX IF NOT EXISTS overdue_watch_open ON {schema}.overdue_watch (due) WHERE NOT escalated",
        # The case versions the assignee and the open/closed state come from: events that arrive late
        # (another queue, another instance) never undo newer ones.
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS assigned_version integer NOT NULL DEFAULT 0",
        "ALTER TABLE {schema}.case_directory ADD COLUMN IF NOT EXISTS closed_version integer NOT NULL DEFAULT 0",
        # The delivery queues (services/notifications/deliveries.py).
        "CREATE TABLE IF NOT EXISTS {schema}.deliveries (delivery_id uuid PRIMARY KEY, webhook_id uuid NOT NULL,"
        " body text NOT NULL, status text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,"
        " next_attempt_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX IF NOT EXISTS deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE status = 'pending'",
        "CREATE TABLE IF NOT EXISTS {schema}.delivery_attempts (delivery_id uuid NOT NULL, attempt integer NOT NULL,"
        " at timestamptz NOT NULL, status_code integer, error text, PRIMARY KEY (delivery_id, attempt))",
        "CREATE TABLE IF NOT EXISTS {schema}.email_deliveries (delivery_id uuid PRIMARY KEY, recipient text NOT NULL,"
        " address text NOT NULL, subject text NOT NULL, body text NOT NULL, status text NOT NULL DEFAULT 'pending',"
        " attempts integer NOT NULL DEFAULT 0, next_attempt_at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX IF NOT EXISTS email_deliveries_due ON {schema}.email_deliveries (next_attempt_at)"
        " WHERE status = 'pending'",
    )
