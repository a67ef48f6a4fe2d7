"""Queries over any number of values, though SQLite caps the parameters one statement may bind (`db`: sqlite3's
connection, or postgres.PgConnection)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# Values bound to one `IN (...)` at a time. SQLITE_MAX_VARIABLE_NUMBER was 999 before SQLite 3.32 (2020),
# and the SQLite a Python carries may be older than that; 500 also leaves room for the query's other parameters.
IN_CHUNK = 500

MARKS = "{marks}"  # where the query's `IN (...)` takes its question marks


def select_in_chunks(db: Any, sql: str, values: Iterable[Any], *,
                     before: Sequence[Any] = (), after: Sequence[Any] = ()) -> Iterator[Any]:
    """The rows of `sql` for all of `values`: `sql` has `IN ({marks})` where the values go, and is run once per
    IN_CHUNK of them, binding `before`, then the chunk's values, then `after` (the parameters written ahead of and
    behind the `IN` in `sql`). No values, no query. An ORDER BY holds within a chunk, not across chunks, and a
    value repeated in two chunks matches in both."""
    if MARKS not in sql:
        raise ValueError(f"no IN ({MARKS}) in the query: {sql}")
    wanted = list(values)
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start:start + IN_CHUNK]
        yield from db.execute(sql.replace(MARKS, ",".join("?" * len(chunk))), (*before, *chunk, *after))
