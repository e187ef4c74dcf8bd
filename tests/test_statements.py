"""Every hand-written statement agrees with the models and the migrated database.

The statements live in ``storage/`` (each module lists them in ``STATEMENTS``, the
PostgreSQL-only ones in ``PG_STATEMENTS``, the SQLite-only ones in ``SQLITE_STATEMENTS``).
Each is compiled by the database (SQLite's ``EXPLAIN``, PostgreSQL's prepare), its quoted
names are columns of the tables it names (as the models declare them), and an INSERT names
every NOT NULL column without a database default. No SQL is written anywhere but
``storage/``.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import asyncpg
from tortoise.models import Model

import storage
from storage import columns, models
from storage import kb as kb_store
from storage.adapters import tortoise as orm
from storage.db import Database, asyncpg_dsn, sqlite_path

ROOT = Path(__file__).resolve().parent.parent
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
TABLE = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE)\s+"(\w+)"', re.IGNORECASE)
QUOTED = re.compile(r'"([^"]+)"')
ALIAS = re.compile(r'\bAS\s+"([^"]+)"', re.IGNORECASE)
CTE = re.compile(r'"(\w+)"\s*(?:\(([^)]*)\))?\s*AS\s*\(', re.IGNORECASE)
INSERT = re.compile(r'^\s*INSERT INTO\s+"(\w+)"\s*\(([^)]*)\)', re.IGNORECASE)


def _modules() -> Iterator[ModuleType]:
    for info in pkgutil.iter_modules(storage.__path__):
        if info.name != "migrations":
            yield importlib.import_module(f"storage.{info.name}")


def _statements(postgres: bool) -> list[tuple[str, str]]:
    """(module, statement) for every listed statement of one database (``PG_STATEMENTS``
    when ``postgres``, else ``SQLITE_STATEMENTS``)."""
    found = []
    for module in _modules():
        lists = ("STATEMENTS", "PG_STATEMENTS" if postgres else "SQLITE_STATEMENTS")
        for name in lists:
            found += [(module.__name__, sql) for sql in getattr(module, name, ())]
    return found


def _models() -> dict[str, type[Model]]:
    return {
        columns.table(model): model
        for model in vars(models).values()
        if isinstance(model, type) and issubclass(model, Model) and model is not Model
    }


def test_every_statement_is_listed_and_concrete() -> None:
    """A module's SQL constants are all in its lists (the checks below see them); templates
    (``{...}``) are listed as one of their instances."""
    listed = {sql for postgres in (True, False) for _, sql in _statements(postgres)}
    assert len(listed) > 30
    for module in _modules():
        for name, value in vars(module).items():
            if isinstance(value, str) and SQL.match(value) and "{" not in value:
                assert value in listed, f"{module.__name__}.{name} is in no STATEMENTS list"
    for module, sql in _statements(postgres=True) + _statements(postgres=False):
        assert "{" not in sql, f"{module}: a template is listed, not an instance: {sql}"


def test_no_sql_outside_storage() -> None:
    """``grep -rnE "SELECT|INSERT INTO|UPDATE .* SET|DELETE FROM"`` over the Python code of
    every package but ``storage`` finds nothing."""
    pattern = re.compile(r"SELECT|INSERT INTO|UPDATE .* SET|DELETE FROM")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("handoff", "dashboard_api", "bot", "connectors", "msgcenter")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


async def test_the_column_lists_are_the_models(db_url: str) -> None:
    """``storage.columns`` reads the fields before Tortoise is set up: the same columns as
    Tortoise's own once it is."""
    database = Database(db_url)
    await database.open(run_migrations=False)
    try:
        for model in _models().values():
            assert set(columns.columns(model)) == orm.db_columns(model), model.__name__
    finally:
        await database.close()


async def test_statements_agree_with_the_models_and_the_database(db_url: str) -> None:
    postgres = not db_url.startswith("sqlite")
    schema = await (_postgres_schema(db_url) if postgres else _sqlite_schema(db_url))
    tables = _models()
    assert set(schema) >= set(tables)  # every model's table is migrated ...
    for table, model in tables.items():  # ... with the model's columns
        extra = kb_store.POSTGRES_ONLY_COLUMNS.get(table, frozenset()) if postgres else set()
        assert set(schema[table]) == set(columns.columns(model)) | extra, table
    problems: list[str] = []
    for module, sql in _statements(postgres):
        problems += [f"{module}: {p}\n  {sql}" for p in _disagreements(sql, tables, schema)]
    if postgres:
        problems += await _postgres_compile(db_url, _statements(postgres))
    else:
        problems += _sqlite_compile(db_url, _statements(postgres))
    assert problems == [], "\n".join(problems)


Schema = dict[str, dict[str, bool]]  # table -> column -> whether an INSERT must name it


def _disagreements(sql: str, tables: dict[str, type[Model]], schema: Schema) -> list[str]:
    """The quoted names of ``sql`` that are no column of its tables (nor a table, an alias, a
    common table expression's own), and the columns its INSERT leaves out but must name."""
    named = TABLE.findall(sql)
    expressions = CTE.findall(sql)  # common table expressions: named like tables
    own = {name for name, _ in expressions}
    problems = [f"no model has the table {t}" for t in named if t not in tables and t not in own]
    known = set(named)
    for table in named:
        if table in tables:
            known |= set(columns.columns(tables[table]))
    known |= set(ALIAS.findall(sql))
    for name, listed in expressions:
        known |= {name} | set(QUOTED.findall(listed))
    problems += [f'"{name}" is no column of {", ".join(named)}'
                 for name in QUOTED.findall(sql) if name not in known]  # fmt: skip
    insert = INSERT.match(sql)
    if insert is not None:
        table, listed = insert.group(1), set(QUOTED.findall(insert.group(2)))
        missing = sorted(c for c, must in schema.get(table, {}).items() if must and c not in listed)
        problems += [f"the INSERT leaves out {', '.join(missing)}"] if missing else []
    return problems


async def _sqlite_schema(url: str) -> Schema:
    with contextlib.closing(sqlite3.connect(_sqlite_file(url))) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            table: {
                name: bool(notnull) and default is None and not (pk and kind.upper() == "INTEGER")
                for _, name, kind, notnull, default, pk in db.execute(
                    f'PRAGMA table_info("{table}")'
                )
            }
            for table in names
        }


def _sqlite_compile(url: str, statements: list[tuple[str, str]]) -> list[str]:
    problems = []
    with contextlib.closing(sqlite3.connect(_sqlite_file(url))) as db:
        for module, sql in statements:
            try:
                db.execute(f"EXPLAIN {sql}", [None] * sql.count("?")).fetchall()
            except sqlite3.Error as exc:
                problems.append(f"{module}: SQLite: {exc}\n  {sql}")
    return problems


def _sqlite_file(url: str) -> Path:
    path = sqlite_path(url)
    assert path is not None
    return path


async def _postgres_schema(url: str) -> Schema:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_schema = current_schema()"
        )
    finally:
        await connection.close()
    schema: Schema = {}
    for row in rows:
        must = (row["is_nullable"] == "NO" and row["column_default"] is None
                and row["is_identity"] != "YES")  # fmt: skip
        schema.setdefault(row["table_name"], {})[row["column_name"]] = must
    return schema


async def _postgres_compile(url: str, statements: list[tuple[str, str]]) -> list[str]:
    problems = []
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for module, sql in statements:
            prepared = _numbered(sql)
            try:
                await connection.prepare(prepared)
            except asyncpg.PostgresError as exc:
                problems.append(f"{module}: PostgreSQL: {exc}\n  {prepared}")
    finally:
        await connection.close()
    return problems


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (what ``storage.sql`` runs)."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)
