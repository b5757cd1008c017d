"""Alembic environment: the URL comes from `tocsin db upgrade` (coordinator.migrate)."""

from alembic import context
from sqlalchemy import create_engine

from coordinator.models import Base

url = context.config.attributes["database_url"]
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),  # SQLite alters tables by copying them
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
