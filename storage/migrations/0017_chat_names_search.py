from tortoise import migrations
from tortoise.migrations import operations as ops

from storage.search import create_names, drop_names


async def _index_names(apps, schema_editor):
    # SQLite: the trigram table of the chats' names, phones and emails, its triggers and
    # every stored chat; PostgreSQL: nothing (storage/search.py).
    await create_names(schema_editor.client)


async def _drop_names(apps, schema_editor):
    await drop_names(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0016_integrations')]

    initial = False

    operations = [
        ops.RunPython(_index_names, _drop_names),
    ]
