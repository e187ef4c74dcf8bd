"""The committed migrations and the models agree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tortoise import Tortoise


def test_the_migrations_describe_the_models(tmp_path: Path) -> None:
    """`tortoise makemigrations` finds nothing to add (run on a copy: it writes files)."""
    root = Path(__file__).resolve().parent.parent
    shutil.copytree(
        root / "storage", tmp_path / "storage", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(  # noqa: S603 - the project's own tool
        [str(Path(sys.executable).parent / "tortoise"), "makemigrations"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout + result.stderr


async def _indexed_columns(db_url: str, table: str) -> set[tuple[str, ...]]:
    """The column lists of ``table``'s indexes (unique ones included) in the database."""
    connection = Tortoise.get_connection("default")
    if db_url.startswith("sqlite"):
        found = set()
        for index in await connection.execute_query_dict(f"PRAGMA index_list('{table}')"):
            columns = await connection.execute_query_dict(f"PRAGMA index_info('{index['name']}')")
            found.add(tuple(str(c["name"]) for c in sorted(columns, key=lambda c: c["seqno"])))
        return found
    rows = await connection.execute_query_dict(
        "SELECT array_agg(a.attname ORDER BY k.n) AS columns FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
        "WHERE t.relname = $1 GROUP BY i.indexrelid",
        [table],
    )
    return {tuple(row["columns"]) for row in rows}


async def test_a_migrated_database_has_every_index_the_models_declare(db_url: str) -> None:
    """Each model's indexes and unique constraints are in the migrated tables (an operation
    that rebuilds a table, as Tortoise's AlterField does on SQLite, must not lose them)."""
    await Tortoise.init(db_url=db_url, modules={"models": ["storage.models"]})
    try:
        missing = []
        for model in Tortoise.apps["models"].values():
            meta = model._meta
            wanted = [tuple(index.fields) for index in meta.indexes]
            wanted += [tuple(fields) for fields in meta.unique_together]
            have = await _indexed_columns(db_url, meta.db_table)
            for fields in wanted:
                columns = tuple(meta.fields_db_projection.get(name, name) for name in fields)
                if columns not in have:
                    missing.append(f"{meta.db_table}{columns}")
        assert not missing, missing
    finally:
        await Tortoise.close_connections()
