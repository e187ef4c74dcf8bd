"""The tables' columns as the Tortoise models declare them, for the hand-written statements.

Every statement in ``storage`` names its table and columns through these functions, so a
column is declared once, in :mod:`storage.models` (and its migration): a row read back whole
(``RETURNING``, a chat row) gains a new column by itself, and an ``INSERT`` fills every column
that has a default from the field's own definition. The functions read only the fields'
declarations, so statements can be built at import, before ``Tortoise.init``; the agreement
test (``tests/test_statements.py``) holds them against the models and the migrated database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from tortoise.fields import DatetimeField, Field, JSONField
from tortoise.fields.relational import ForeignKeyFieldInstance, OneToOneFieldInstance
from tortoise.models import Model

from storage.adapters import tortoise as orm
from storage.adapters.tortoise import db_value as db_value
from storage.adapters.tortoise import field_name as field_name


def table(model: type[Model]) -> str:
    """The model's table name."""
    return orm.table(model)


@cache
def _fields(model: type[Model]) -> tuple[tuple[str, str, Field[Any]], ...]:
    """(field name, column, field) of each column, in declaration order. A foreign key is the
    column Tortoise gives it (``<name>_id``), before ``Tortoise.init`` adds that field too."""
    found: dict[str, tuple[str, str, Field[Any]]] = {}
    for name, field in orm.fields(model).items():
        if isinstance(field, ForeignKeyFieldInstance | OneToOneFieldInstance):
            column = field.source_field or f"{name}_id"
            found.setdefault(column, (f"{name}_id", column, field))
        elif field.has_db_field:
            column = field.source_field or name
            if column not in found or name == column:
                found[column] = (name, column, field)
    return tuple(found.values())


def columns(model: type[Model]) -> tuple[str, ...]:
    """Every column of the model's table, in declaration order."""
    return tuple(column for _, column, _ in _fields(model))


def quoted(names: Iterable[str], prefix: str = "") -> str:
    """``"a", "b"`` (``prefix`` is a table alias with its dot, e.g. ``m.``)."""
    return ", ".join(f'{prefix}"{name}"' for name in names)


def row(model: type[Model], prefix: str = "", *, without: Iterable[str] = ()) -> str:
    """Every column of the model's table (but ``without``), quoted: a row to select or
    return."""
    left_out = set(without)
    return quoted((c for c in columns(model) if c not in left_out), prefix)


def defaults(model: type[Model], given: Iterable[str]) -> dict[str, Any]:
    """column -> the database value of its field's default, for each column not in ``given``
    whose field has a default other than None (a callable default is called once)."""
    skip = set(given)
    found: dict[str, Any] = {}
    for _, column, field in _fields(model):
        default = field.default
        if column in skip or default is None or isinstance(field, ForeignKeyFieldInstance):
            continue
        value = default() if callable(default) else default
        found[column] = field.to_db_value(value, model)
    return found


def insert(model: type[Model], names: Iterable[str], suffix: str = "", *, rows: int = 1) -> str:
    """``INSERT INTO <table> (<names>) VALUES (?, ...)`` (``rows`` of them), then ``suffix``."""
    names = tuple(names)
    unknown = set(names) - set(columns(model))
    if unknown:
        raise ValueError(f"{table(model)} has no column {', '.join(sorted(unknown))}")
    row = "(" + ", ".join("?" for _ in names) + ")"
    marks = ", ".join(row for _ in range(rows))
    sql = f'INSERT INTO "{table(model)}" ({quoted(names)}) VALUES {marks}'  # noqa: S608
    return f"{sql} {suffix}" if suffix else sql


def reader(model: type[Model], field: str) -> Callable[[Any], Any]:
    """What reads a stored value of ``model.field`` as the ORM does (JSON parsed, a time made
    aware)."""
    return orm.python_reader(model, field)


@cache
def datetime_columns(model: type[Model]) -> tuple[str, ...]:
    """The columns that hold times."""
    return tuple(column for _, column, field in _fields(model) if isinstance(field, DatetimeField))


@cache
def json_columns(model: type[Model]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """The columns that hold JSON, each with what reads its stored text."""
    return tuple(
        (column, reader(model, name))
        for name, column, field in _fields(model)
        if isinstance(field, JSONField)
    )
