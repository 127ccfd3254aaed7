"""Fixtures of the PostgreSQL suite: the session's private server, a fresh schema per test."""

from __future__ import annotations

import uuid

import pytest

from tests.postgresql.cluster import PostgresCluster


@pytest.fixture
def schema() -> str:
    """A schema no other test uses."""
    return f"s{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_dsn(shared_postgres: PostgresCluster, schema: str) -> str:
    """A DSN of the session's server, with this test's own schema."""
    return f"{shared_postgres.dsn}?schema={schema}"
