"""The relational store shared by all stages: SQLite by default, PostgreSQL by URL.

The schema is owned by Alembic migrations; :meth:`Store.migrate` brings any database to the
newest revision, and every service calls it at start. Each table's model lives with its one owning
package in ``core/store/tables/`` (``TABLE_OWNERS``); importing this package registers them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
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
    """Insert rows in one statement, skipping those whose unique ``keys`` exist or repeat earlier in ``rows``.

    Returns:
        The primary keys of the rows inserted.

    """
    if not rows:
        return []
    stmt = _insert_ignore_statement(session.get_bind().dialect.name, model, tuple(keys))
    return list(session.execute(stmt, list(rows)).scalars())


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
