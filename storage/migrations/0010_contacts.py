from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from storage.contacts_backfill import backfill


async def _contacts_for_existing_chats(apps, schema_editor):
    await backfill(schema_editor.client)

class Migration(migrations.Migration):
    dependencies = [('models', '0009_agent_day')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Contact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=255)),
                ('avatar_url', fields.CharField(null=True, max_length=1024)),
                ('notes', fields.TextField(null=True, unique=False)),
                ('attributes', fields.JSONField(null=True, default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('merged_into_id', fields.IntField(null=True)),
                ('first_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'contacts', 'app': 'models', 'indexes': [Index(fields=['merged_into_id', 'id']), Index(fields=['name'])], 'pk_attr': 'id', 'table_description': 'A customer, across channels, who owns chats and is found by their identities'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContactAttribute',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=64)),
                ('label', fields.CharField(max_length=128)),
                ('type', fields.CharField(max_length=16)),
                ('options', fields.JSONField(null=True, default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'contact_attributes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A custom attribute admins define for contacts: its values live in'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContactIdentity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='identities', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=16)),
                ('external_id', fields.CharField(max_length=255)),
                ('chat_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contact_identities', 'app': 'models', 'unique_together': (('channel', 'external_id'),), 'indexes': [Index(fields=['contact_id'])], 'pk_attr': 'id', 'table_description': 'A verified identity of a contact: (channel, external id) belongs to one contact only'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContactMerge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact_id', fields.IntField()),
                ('other_id', fields.IntField()),
                ('snapshot', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actor_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('undone_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'contact_merges', 'app': 'models', 'indexes': [Index(fields=['contact_id']), Index(fields=['other_id'])], 'pk_attr': 'id', 'table_description': 'One merge of ``other_id`` into ``contact_id``, with what undoing it needs'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContactPoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='points', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=8)),
                ('value', fields.CharField(max_length=254)),
                ('verified', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contact_points', 'app': 'models', 'unique_together': (('contact_id', 'kind', 'value'),), 'indexes': [Index(fields=['kind', 'value'])], 'pk_attr': 'id', 'table_description': 'A phone number (E.164) or e-mail address (normalized) of a contact: ``verified`` when'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Chat',
            name='contact',
            field=fields.ForeignKeyField('models.Contact', source_field='contact_id', null=True, db_constraint=True, to_field='id', related_name='chats', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='Chat',
            index=Index(fields=['contact_id', 'activity_at']),
        ),
        ops.RunPython(_contacts_for_existing_chats, ops.RunPython.noop),
    ]
