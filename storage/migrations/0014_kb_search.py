from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.kb import create_index


async def _full_text_index(apps, schema_editor):
    # SQLite: the FTS5 table kb_chunks_fts and its triggers; PostgreSQL: kb_chunks.search
    # (tsvector), its trigger and GIN index (storage/kb.py).
    await create_index(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0013_knowledge_base')]

    initial = False

    operations = [
        ops.RunPython(_full_text_index, ops.RunPython.noop),
    ]
