"""The hub's store: engine and transactions (engine.py), tables (models.py), Alembic migrations."""
