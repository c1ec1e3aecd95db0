"""Fixtures of the unit tests that run use cases in memory (tests/memory.py)."""
import psycopg
import pytest

from tests.memory import DatabaseOpened


@pytest.fixture
def no_database(monkeypatch):
    """No database settings in the environment, and any psycopg connection attempt fails the test."""
    import os
    for name in list(os.environ):
        if name.startswith("POSTGRES_") or name.endswith("_POSTGRES_SCHEMA"):
            monkeypatch.delenv(name)

    def refuse(*args, **kwargs):
        raise DatabaseOpened("a use-case test in memory opened a database connection")
    monkeypatch.setattr(psycopg, "connect", refuse)
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(refuse))
