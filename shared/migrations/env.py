"""alembic's environment for every service's schema: run by shared.migrations.upgrade, which passes
the connection (in its transaction, the schema's advisory lock held) and the schema."""
from alembic import context

attributes = context.config.attributes
if context.is_offline_mode() or "connection" not in attributes:
    raise RuntimeError("run migrations with `python -m shared.migrations upgrade` (or a service's start), "
                       "not the alembic command: it needs the service's connection and schema")
applied: list[str] = attributes.setdefault("applied", [])


def record(ctx, step, heads, run_args) -> None:
    applied.append(step.up_revision_id)


context.configure(connection=attributes["connection"], version_table_schema=attributes["schema"],
                  on_version_apply=record, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
