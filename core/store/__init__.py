"""The relational store shared by all stages: SQLite by default, PostgreSQL by URL.

The schema is owned by Alembic migrations; :meth:`Store.migrate` brings any database to the
newest revision, and every service calls it at start. Each table's model lives with its one owning
package in ``core/store/tables/`` (``TABLE_OWNERS``); importing this package registers them all.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError, TransientError
from core.store import tables
from core.store.base import Base

TABLE_OWNERS = tables.TABLE_OWNERS

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # 32 MiB of page cache per connection instead of SQLite's 2 MiB: a list import of 1M lines spilled
    # its one transaction's pages to the WAL over and over (30.6 -> 22.8 s, benchmarks/README.md).
    cur.execute("PRAGMA cache_size=-32768")
    cur.close()


class Store:
    """Database access for every stage.

    Args:
        url: A SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).

    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship in the postgres extra.
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            db_path = url.split("///", 1)[-1]
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        elif url.startswith("postgresql+psycopg"):
            kwargs["pool_pre_ping"] = True
        else:
            raise ConfigError(f"unsupported store URL {self.url!r}: use sqlite:/// or postgresql://")
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Upgrade the database schema to the newest migration."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error.

        Raises:
            TransientError: If the database is locked or unreachable.

        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise TransientError(f"store unavailable: {exc.orig}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def insert_ignore(session: Session, model: type[Base], values: dict[str, Any], keys: list[str]) -> bool:
    """Insert one row unless a row with the same unique ``keys`` exists (idempotent writes).

    Redelivered bus messages call this with the same natural key, so they change nothing twice.

    Returns:
        True if a row was inserted.

    """
    stmt = _insert_ignore_statement(session.get_bind().dialect.name, model, tuple(keys))
    return session.execute(stmt, values).first() is not None


def insert_ignore_many(
    session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]], keys: list[str]
) -> list[Any]:
    """Insert rows, skipping those whose unique ``keys`` exist or repeat earlier in ``rows``.

    Many rows go into each statement (``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING``,
    as many as the driver's parameter limit allows); rows whose columns differ from the first
    row's, or that leave out a column with a Python-side default, take the one-statement-per-row
    path of :func:`insert_ignore`'s statement instead.

    Returns:
        The primary keys of the rows inserted.

    """
    if not rows:
        return []
    connection = session.connection()
    plan = _multirow_plan(connection.dialect, model, tuple(rows[0]), tuple(keys))
    if plan is None:
        stmt = _insert_ignore_statement(connection.dialect.name, model, tuple(keys))
        return list(session.execute(stmt, list(rows)).scalars())
    try:
        columns = plan.columns(rows)
    except KeyError:  # a row without one of the first row's columns
        stmt = _insert_ignore_statement(connection.dialect.name, model, tuple(keys))
        return list(session.execute(stmt, list(rows)).scalars())
    inserted: list[Any] = []
    for start in range(0, len(rows), plan.per_statement):
        chunk = [column[start:start + plan.per_statement] for column in columns]
        count = len(chunk[0])
        # Row-major parameters: row 1's columns, then row 2's...
        params = tuple(itertools.chain.from_iterable(zip(*chunk, strict=True)))
        inserted.extend(connection.exec_driver_sql(plan.sql(count), params).scalars().all())
    return inserted


class _MultiRowPlan:
    """How one table's rows of given columns become multi-row INSERT statements on one dialect."""

    def __init__(self, dialect: Dialect, table: Table, names: tuple[str, ...], keys: tuple[str, ...],
                 pk: str, placeholder: str) -> None:
        quote = dialect.identifier_preparer.quote
        self.names = names
        # The column types' own conversions (e.g. aware datetimes to UTC text), as SQLAlchemy applies them.
        self.processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        self.head = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
                     f"({', '.join(quote(n) for n in names)}) VALUES ")
        self.tail = f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO NOTHING RETURNING {quote(pk)}"
        self.row = "(" + ", ".join([placeholder] * len(names)) + ")"
        limit = _MAX_PARAMS.get(dialect.name, 999)
        self.per_statement = max(1, min(_MAX_ROWS_PER_STATEMENT, limit // len(names)))
        self._sql: dict[int, str] = {}

    def sql(self, count: int) -> str:
        """The statement for ``count`` rows (built once per count)."""
        text = self._sql.get(count)
        if text is None:
            text = self._sql[count] = self.head + ", ".join([self.row] * count) + self.tail
        return text

    def columns(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        """The rows' values column by column, converted for the driver.

        Raises:
            KeyError: A row lacks one of the columns.
        """
        out: list[list[Any]] = []
        for name, process in zip(self.names, self.processors, strict=True):
            values = [row[name] for row in rows]
            if process is not None:
                # A bulk row repeats most of its values (set id, timestamp): convert each once.
                seen: dict[tuple[type, Any], Any] = {}
                converted = []
                for value in values:
                    key = (type(value), value)  # by type too: True == 1 must not share a conversion
                    try:
                        done = seen[key]
                    except KeyError:
                        done = seen[key] = process(value)
                    except TypeError:  # unhashable
                        done = process(value)
                    converted.append(done)
                values = converted
            out.append(values)
        return out


_MAX_PARAMS = {"sqlite": 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999, "postgresql": 65535}
"""Bound parameters one statement may carry, per dialect (SQLite's SQLITE_MAX_VARIABLE_NUMBER; the
PostgreSQL protocol's 16-bit count)."""
_MAX_ROWS_PER_STATEMENT = 2000
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@lru_cache(maxsize=128)
def _multirow_plan(dialect: Dialect, model: type[Base], names: tuple[str, ...],
                   keys: tuple[str, ...]) -> _MultiRowPlan | None:
    """The multi-row plan for these columns, or None where only the per-row path is right."""
    table: Any = model.__table__
    placeholder = _PLACEHOLDERS.get(str(dialect.paramstyle))
    primary = [c.name for c in table.primary_key.columns]
    if (placeholder is None or dialect.name not in _MAX_PARAMS or len(primary) != 1 or not names
            or any(n not in table.c for n in names)):
        return None
    # SQLAlchemy fills Python-side defaults of left-out columns; raw SQL would leave them NULL.
    if any(c.default is not None and c.name not in names and not c.primary_key for c in table.columns):
        return None
    return _MultiRowPlan(dialect, table, names, keys, primary[0], placeholder)


@lru_cache(maxsize=128)
def _insert_ignore_statement(dialect: str, model: type[Base], keys: tuple[str, ...]) -> Any:
    """The INSERT ... ON CONFLICT DO NOTHING RETURNING statement, values left to the execution.

    Built once per table: building it with the values in it, as SQLAlchemy's ``values()`` does,
    took most of a hashing worker's time outside hashing. It inserts into the model's table, not
    the model: the ORM's bulk path adds per-row bookkeeping that cost a third of a million-line
    list import's insert time, and gives nothing back here (the caller wants keys, not objects).
    """
    table: Any = model.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=list(keys))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(keys))
    # RETURNING tells the two cases apart on every backend; rowcount does not (psycopg reports
    # the skipped row as inserted).
    return stmt.returning(*sa_inspect(model).primary_key)
