"""Alembic environment: run by `records.db.migrate` with its own connection (no alembic.ini)."""

from alembic import context
from sqlalchemy import create_engine, pool

from records.schema import metadata

config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic -x` style use with sqlalchemy.url set on the Config
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
