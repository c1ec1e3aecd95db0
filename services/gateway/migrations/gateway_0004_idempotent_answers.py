"""Issue 20: Idempotency-Key on the POST routes the gateway answers itself. One row per (scope, key):
the request's keyed fingerprint and, once it succeeded, its status and its answer, sealed (AES-GCM
with a key derived from the gateway's cipher key). Rows older than a day are deleted
(services/gateway/idempotency.py).

Revision ID: gateway_0004
Revises: gateway_0003
"""
from shared.migrations import execute

revision = "gateway_0004"
down_revision = "gateway_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.idempotent_answers (scope text NOT NULL, key text NOT NULL,"
        " fingerprint text NOT NULL, status integer, answer bytea,"
        " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))",
        "CREATE INDEX IF NOT EXISTS idempotent_answers_age ON {schema}.idempotent_answers (created_at)",
    )
