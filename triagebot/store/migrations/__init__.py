"""The store's schema history as Alembic revisions (``versions/``), applied by
``triagebot.store.migrate`` when the service starts."""
