"""Alembic environment: the URL comes from the caller (`Store.upgrade`) or STEWARD_DATABASE_URL."""
import os

from alembic import context
from sqlalchemy import create_engine

from app.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get(
    "STEWARD_DATABASE_URL", "sqlite:///instance/steward.db")


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
