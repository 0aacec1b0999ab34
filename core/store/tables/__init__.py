"""Every table of the store, one module per owning package (the store sits under every stage).

Only a table's owner inserts, updates or deletes its rows (``tests/unit/test_ownership.py`` scans for
writes from elsewhere); other packages read them through the owner's query functions (import-linter
keeps them off the owner's module here) and change them by a bus message the owner consumes or by
calling the owner's service. ``TABLE_OWNERS`` maps each table name to its owner; importing this
package registers every model on ``Base.metadata``, which Alembic and :class:`core.store.Store` need.
"""

from __future__ import annotations

from types import ModuleType

from core.store.base import Base
from core.store.tables import crawler, hashing, matcher, notifier, review, web

OWNER_MODULES: tuple[ModuleType, ...] = (crawler, hashing, matcher, review, notifier, web)
"""The per-owner modules; each declares ``OWNER``."""

MODEL_OWNERS: dict[type[Base], str] = {
    model: module.OWNER
    for module in OWNER_MODULES
    for model in vars(module).values()
    if isinstance(model, type) and issubclass(model, Base) and model.__module__ == module.__name__
}
"""Each model class -> its owning package."""

TABLE_OWNERS: dict[str, str] = {model.__tablename__: owner for model, owner in MODEL_OWNERS.items()}
"""Table name -> its owning package."""
