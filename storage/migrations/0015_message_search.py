from tortoise import migrations
from tortoise.migrations import operations as ops

from storage.search import create, drop


async def _index_messages(apps, schema_editor):
    # SQLite: the FTS5 table, its triggers and every stored message; PostgreSQL: the GIN
    # index (storage/search.py).
    await create(schema_editor.client)


async def _drop_index(apps, schema_editor):
    await drop(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0014_kb_search')]

    initial = False

    operations = [
        ops.RunPython(_index_messages, _drop_index),
    ]
