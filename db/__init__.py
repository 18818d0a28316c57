"""Persistence layer: settings, SQLAlchemy models, engine and the repository of SQL."""
