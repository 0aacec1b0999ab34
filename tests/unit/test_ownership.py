"""Every table has one owner: no production code outside a table's owning package writes it.

The owners are data (``OWNER`` in each module of ``core/store/tables/``). This test scans the
production packages' source (not tests or benchmarks) for writes to owned tables and fails on one
made from another package: constructing an owned model, ``insert``/``update``/``delete`` (and the
dialects' inserts and ``core.store.insert_ignore``) of one, ``session.add``/``merge``/``delete`` of
an object known to be one, assigning an attribute of such an object, and raw SQL ``INSERT INTO``,
``UPDATE ... SET`` or ``DELETE FROM`` naming an owned table. An object "known to be" a model is one
bound, in the same function, from the model's constructor, ``session.get(M, ...)``, a query whose
``select`` names only ``M``, or an annotation naming ``M`` (including a function's parameters and
``for`` targets over such a query); what cannot be told statically is left to review.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.store import Store
from core.store.base import Base
from core.store.tables import MODEL_OWNERS, OWNER_MODULES, TABLE_OWNERS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "crawler", "hashing", "matcher", "review", "notifier", "web", "orbweaver")
SKIPPED = ("core/store/migrations/",)
"""Migrations change the schema (and backfill) for every owner: they are the schema's, not a stage's."""
OTHER_DATABASES = ("core/bus/embedded.py",)
"""Raw SQL here runs on another database: the embedded bus's SQLite file has a ``deliveries`` table of its own."""

MODELS = {model.__name__: owner for model, owner in MODEL_OWNERS.items()}
TABLES = {model.__name__: model.__tablename__ for model in MODEL_OWNERS}
WRITE_CALLS = {"insert", "update", "delete", "pg_insert", "sqlite_insert", "insert_ignore", "insert_ignore_many"}
SESSION_WRITES = {"add", "merge", "delete", "add_all"}
ROW_SOURCES = {"get", "get_one", "scalar", "scalars", "execute", "one", "first", "one_or_none", "scalar_one",
               "scalar_one_or_none", "all", "merge"}
RAW_SQL = re.compile(r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+[\"`]?(\w+)[\"`]?(\s+SET\b)?")


@dataclass(frozen=True, slots=True)
class Write:
    """One write to an owned table found in a module of another package."""

    path: str
    line: int
    writer: str
    owner: str
    table: str
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.writer} {self.how} {self.table} (owned by {self.owner})"


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, writer: str, models: dict[str, str], tables: dict[str, str]) -> None:
        self.path, self.writer, self.models, self.tables = path, writer, models, tables
        self.aliases: dict[str, str] = {}
        """Local name -> model class name (``from core.store.tables.x import M as N``)."""
        self.typed: list[dict[str, str]] = [{}]
        """Per function scope: variable -> model class name."""
        self.found: list[Write] = []

    # --- what an expression is ------------------------------------------------------------------------

    def model_of(self, node: ast.AST) -> str | None:
        """The model class an expression names (``M`` or ``module.M``), if any."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr in self.models:
            return node.attr
        return None

    def instance_of(self, node: ast.AST) -> str | None:
        """The model class an expression's value is known to be an instance of, if any."""
        if isinstance(node, ast.Name):
            for scope in reversed(self.typed):
                if node.id in scope:
                    return scope[node.id]
            return None
        if isinstance(node, ast.Call):
            model = self.model_of(node.func)
            if model is not None:
                return model
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ROW_SOURCES:
                if func.attr in ("get", "get_one") and node.args:
                    return self.model_of(node.args[0])
                for arg in node.args:
                    found = self._selected(arg)
                    if found is not None:
                        return found
                return self.instance_of(func.value) if isinstance(func.value, ast.Call) else None
        return None

    def _selected(self, node: ast.AST) -> str | None:
        """``select(M)...`` with ``M`` its only column: the model its rows are."""
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select"
                and len(node.args) == 1):
            return self.model_of(node.args[0])
        return None

    def annotation_model(self, node: ast.AST | None) -> str | None:
        if node is None:
            return None
        for sub in ast.walk(node):
            model = self.model_of(sub)
            if model is not None:
                return model
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                for name in re.findall(r"\w+", sub.value):
                    if name in self.aliases:
                        return self.aliases[name]
        return None

    # --- recording --------------------------------------------------------------------------------------

    def flag(self, node: ast.AST, model: str, how: str) -> None:
        owner = self.models[model]
        if owner != self.writer:
            table = TABLES.get(model, model)
            self.found.append(Write(self.path, getattr(node, "lineno", 0), self.writer, owner, table, how))

    def flag_table(self, node: ast.AST, table: str, how: str) -> None:
        owner = self.tables[table]
        if owner != self.writer:
            self.found.append(Write(self.path, getattr(node, "lineno", 0), self.writer, owner, table, how))

    # --- visiting ---------------------------------------------------------------------------------------

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.module.startswith("core.store"):
            for alias in node.names:
                if alias.name in self.models:
                    self.aliases[alias.asname or alias.name] = alias.name
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        scope: dict[str, str] = {}
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            model = self.annotation_model(arg.annotation)
            if model is not None:
                scope[arg.arg] = model
        self.typed.append(scope)
        self.generic_visit(node)
        self.typed.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _bind(self, target: ast.AST, model: str | None) -> None:
        if isinstance(target, ast.Name) and model is not None:
            self.typed[-1][target.id] = model

    def visit_Assign(self, node: ast.Assign) -> None:
        model = self.instance_of(node.value)
        for target in node.targets:
            self._bind(target, model)
            self._assigned(target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._bind(node.target, self.annotation_model(node.annotation)
                   or (self.instance_of(node.value) if node.value is not None else None))
        if node.value is not None:
            self._assigned(node.target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node.target)
        self.generic_visit(node)

    def _for(self, node: ast.For | ast.AsyncFor) -> None:
        self._bind(node.target, self.instance_of(node.iter) or self._selected_in(node.iter))
        self.generic_visit(node)

    visit_For = _for
    visit_AsyncFor = _for

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._bind(node.target, self.instance_of(node.iter) or self._selected_in(node.iter))
        self.generic_visit(node)

    def _selected_in(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Call):
            for arg in node.args:
                found = self._selected(arg)
                if found is not None:
                    return found
        return None

    def _assigned(self, target: ast.AST) -> None:
        targets = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
        for t in targets:
            if isinstance(t, ast.Attribute):
                model = self.instance_of(t.value)
                if model is not None:
                    self.flag(t, model, f"sets .{t.attr} of")
                    return  # one finding per statement

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        model = self.model_of(func)
        if model is not None:
            self.flag(node, model, "constructs")
        elif name in WRITE_CALLS:
            for arg in node.args:
                target = self.model_of(arg)
                if target is not None:
                    self.flag(node, target, f"{name}()s")
                    break
        if isinstance(func, ast.Attribute) and func.attr in SESSION_WRITES:
            for arg in node.args:
                items = arg.elts if isinstance(arg, ast.List | ast.Tuple) else [arg]
                for item in items:
                    target = self.instance_of(item)
                    if target is not None and self.model_of(getattr(item, "func", None) or item) is None:
                        self.flag(node, target, f"session.{func.attr}()s")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for match in RAW_SQL.finditer(node.value):
                table, has_set = match.group(1), match.group(2)
                keyword = match.group(0).split()[0]
                if table in self.tables and (keyword != "UPDATE" or has_set):
                    self.flag_table(node, table, f"raw SQL {keyword}")


def scan(root: Path, packages: tuple[str, ...] = PACKAGES,
         models: dict[str, str] | None = None, tables: dict[str, str] | None = None) -> list[Write]:
    """Every write to an owned table from outside its owner, in the packages under ``root``."""
    models = MODELS if models is None else models
    tables = TABLE_OWNERS if tables is None else tables
    found: list[Write] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(SKIPPED):
                continue
            writer = _writer(rel)
            scanner = _Scanner(rel, writer, models, {} if rel in OTHER_DATABASES else tables)
            scanner.visit(ast.parse(path.read_text(), rel))
            found.extend(scanner.found)
    return found


def _writer(rel: str) -> str:
    """The package a module belongs to; a table module of ``core/store/tables`` writes as its owner."""
    parts = rel.split("/")
    if parts[:3] == ["core", "store", "tables"] and parts[3] != "__init__.py":
        return parts[3].removesuffix(".py")
    return parts[0]


def test_every_table_has_exactly_one_owner_module(tmp_path: Path) -> None:
    declared = {module.OWNER for module in OWNER_MODULES}
    assert declared <= set(PACKAGES)
    for module in OWNER_MODULES:
        assert module.__name__ == f"core.store.tables.{module.OWNER}"
    assert len(TABLE_OWNERS) == len(MODEL_OWNERS) == len(Base.metadata.tables)
    # Every table the migrations create has an owner (and no model is left without a table).
    store = Store(f"sqlite:///{tmp_path / 'owners.db'}")
    store.migrate()
    created = set(inspect(store.engine).get_table_names()) - {"alembic_version"}
    store.dispose()
    assert created == set(TABLE_OWNERS)


def test_no_package_writes_a_table_it_does_not_own() -> None:
    found = scan(ROOT)
    assert not found, "writes to another package's tables:\n" + "\n".join(map(str, found))


# --- the scanner catches each kind of planted cross-write ----------------------------------------------------

PLANTED = {
    "constructs": """
        from core.store.tables.notifier import NoticeContest
        def f(s):
            s.add(NoticeContest(notice_item_id=1))
    """,
    "insert()s": """
        from sqlalchemy import insert
        from core.store.tables.notifier import NoticeContest as C
        def f(s):
            s.execute(insert(C).values(notice_item_id=1))
    """,
    "update()s": """
        from sqlalchemy import update
        from core.store.tables import notifier
        def f(s):
            s.execute(update(notifier.NoticeItem).values(status="withdrawn"))
    """,
    "delete()s": """
        import sqlalchemy as sa
        from core.store.tables.notifier import NoticeRecipient
        def f(s):
            s.execute(sa.delete(NoticeRecipient))
    """,
    "insert_ignore()s": """
        from core.store import insert_ignore
        from core.store.tables.crawler import Campaign
        def f(s):
            insert_ignore(s, Campaign, {"id": "x"}, ["id"])
    """,
    "session.delete()s": """
        from core.store.tables.notifier import NoticeItem
        def f(s):
            item = s.get(NoticeItem, 1)
            s.delete(item)
    """,
    "session.merge()s": """
        from core.store.tables.notifier import NoticeItem
        def f(s, item: NoticeItem):
            s.merge(item)
    """,
    "sets .status of": """
        from sqlalchemy import select
        from core.store.tables.notifier import NoticeItem
        def f(s):
            for item in s.scalars(select(NoticeItem).where(NoticeItem.id == 1)):
                item.status = "withdrawn"
    """,
    "sets .pending of": """
        from sqlalchemy import select
        from core.store.tables.notifier import NoticeRecipient
        def f(s):
            row = s.execute(select(NoticeRecipient).with_for_update()).scalar_one()
            row.pending, row.due_at = False, None
    """,
    "raw SQL INSERT": """
        from sqlalchemy import text
        def f(s):
            s.execute(text("INSERT INTO notice_contests (reason) VALUES ('x')"))
    """,
    "raw SQL UPDATE": """
        def f(conn):
            conn.exec_driver_sql('UPDATE "notice_items" SET status = ? WHERE id = ?', ("withdrawn", 1))
    """,
    "raw SQL DELETE": """
        def f(conn):
            conn.exec_driver_sql("DELETE FROM campaigns WHERE id = 'x'")
    """,
}


@pytest.mark.parametrize("how", sorted(PLANTED))
def test_a_planted_cross_write_is_caught(tmp_path: Path, how: str) -> None:
    planted = tmp_path / "review" / "planted.py"
    planted.parent.mkdir()
    planted.write_text(textwrap.dedent(PLANTED[how]))
    [found] = scan(tmp_path, ("review",))
    assert (found.path, found.writer, found.how) == ("review/planted.py", "review", how)
    assert found.owner in ("notifier", "crawler")
    # The same code in the owner's package is no finding.
    owner_dir = tmp_path / found.owner
    owner_dir.mkdir()
    (owner_dir / "planted.py").write_text(planted.read_text())
    assert [w.writer for w in scan(tmp_path, ("review", found.owner))] == ["review"]


def test_reads_and_prose_are_not_writes(tmp_path: Path) -> None:
    module = tmp_path / "web" / "reads.py"
    module.parent.mkdir()
    module.write_text(textwrap.dedent('''
        """We update notices when a provider asks; DELETE FROM nowhere."""
        from sqlalchemy import select
        from core.store.tables.notifier import NoticeItem
        def f(s):
            item = s.get(NoticeItem, 1)
            status = item.status
            rows = s.scalars(select(NoticeItem.id)).all()
            return status, rows, "update notice_items soon"
    '''))
    assert scan(tmp_path, ("web",)) == []
