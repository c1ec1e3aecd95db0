"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Write the statements with {schema} for the service's schema; they run in its transaction, under
its advisory lock, as the service's own login. A revision is never edited once released: add one."""
from shared.migrations import execute

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    execute(
        # "ALTER TABLE {schema}.example ADD COLUMN IF NOT EXISTS note text",
    )
