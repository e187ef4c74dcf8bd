from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from storage.models import Availability
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_media_and_templates')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.IntField(null=True)),
                ('action', fields.CharField(max_length=32)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.IntField(null=True)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_entries', 'app': 'models', 'indexes': [Index(fields=['chat_id', 'id']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'Who changed what on a chat besides its mode and assignee (those are'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CannedResponse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner_key', fields.IntField(default=0)),
                ('short_code', fields.CharField(max_length=64)),
                ('title', fields.CharField(max_length=128)),
                ('text', fields.TextField(unique=False)),
                ('text_id', fields.TextField(null=True, unique=False)),
                ('created_by_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'canned_responses', 'app': 'models', 'unique_together': (('owner_key', 'short_code'),), 'pk_attr': 'id', 'table_description': "A saved answer: shared (admins keep them) or one person's own."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChatWatcher',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='chat_watchers', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='watching', on_delete=OnDelete.CASCADE)),
                ('message_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_watchers', 'app': 'models', 'unique_together': (('chat_id', 'user_id'),), 'indexes': [Index(fields=['user_id', 'chat_id'])], 'pk_attr': 'id', 'table_description': 'A user mentioned in a note of a chat: may read it and add notes until it closes.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Label',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('colour', fields.CharField(default='#6b7280', max_length=7)),
                ('description', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'labels', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A label admins define (``/labels``) and people put on chats.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChatLabel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='chat_labels', on_delete=OnDelete.CASCADE)),
                ('label', fields.ForeignKeyField('models.Label', source_field='label_id', db_constraint=True, to_field='id', related_name='chat_labels', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_labels', 'app': 'models', 'unique_together': (('chat_id', 'label_id'),), 'indexes': [Index(fields=['label_id', 'chat_id'])], 'pk_attr': 'id', 'table_description': "A label on a chat (the list filter's side of ``Chat.label_ids``)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=32)),
                ('chat_id', fields.IntField(null=True)),
                ('message_id', fields.IntField(null=True)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('read', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notifications', 'app': 'models', 'indexes': [Index(fields=['user_id', 'id']), Index(fields=['user_id', 'read'])], 'pk_attr': 'id', 'table_description': 'Something a person should know about (``GET /notifications``).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Chat',
            name='label_ids',
            field=fields.JSONField(null=True, default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Chat',
            name='priority',
            field=fields.SmallIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Chat',
            name='snoozed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Chat',
            name='snoozed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Chat',
            name='watchers',
            field=fields.JSONField(null=True, default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddIndex(
            model_name='Chat',
            index=Index(fields=['mode', 'priority', 'queued_at']),
        ),
        ops.AddIndex(
            model_name='Chat',
            index=Index(fields=['snoozed_until']),
        ),
        ops.AddField(
            model_name='User',
            name='availability',
            field=fields.CharEnumField(default=Availability.ONLINE, description='ONLINE: online\nAWAY: away\nOFFLINE: offline', db_default='online', enum_type=Availability, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='language',
            field=fields.CharField(default='en', db_default='en', max_length=8),
        ),
        ops.AddField(
            model_name='User',
            name='preferences',
            field=fields.JSONField(null=True, default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
