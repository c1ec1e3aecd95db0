"""Baseline of the gateway's own tables: none yet (its users are event-sourced; it holds only the
plumbing, a shared history). The start of its history, for the revisions to come.

Revision ID: gateway_0001
Revises:
"""
revision = "gateway_0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    pass
