from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from storage.models import Channel, Mode, Role, Sender, Status
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('email', fields.CharField(null=True, unique=True, max_length=254)),
                ('password_hash', fields.CharField(max_length=255)),
                ('role', fields.CharEnumField(default=Role.AGENT, description='ADMIN: admin\nAGENT: agent', enum_type=Role, max_length=16)),
                ('display_name', fields.CharField(default='', max_length=128)),
                ('capacity', fields.IntField(default=5)),
                ('active', fields.BooleanField(default=True)),
                ('token_version', fields.IntField(default=0)),
                ('last_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Chat',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharEnumField(description='TELEGRAM: Telegram\nWHATSAPP: WhatsApp\nEMAIL: Email', enum_type=Channel, max_length=16)),
                ('external_id', fields.CharField(null=True, max_length=255)),
                ('customer_name', fields.CharField(max_length=255)),
                ('customer_phone', fields.CharField(null=True, max_length=64)),
                ('customer_email', fields.CharField(null=True, max_length=254)),
                ('customer_address', fields.CharField(null=True, max_length=512)),
                ('customer_username', fields.CharField(null=True, max_length=255)),
                ('subject', fields.CharField(null=True, max_length=998)),
                ('mode', fields.CharEnumField(default=Mode.BOT, description='BOT: bot\nAGENT: agent\nPAUSED: paused\nCLOSED: closed', enum_type=Mode, max_length=16)),
                ('online', fields.BooleanField(default=False)),
                ('unread_count', fields.IntField(default=0)),
                ('assigned_agent', fields.ForeignKeyField('models.User', source_field='assigned_agent_id', null=True, db_constraint=True, to_field='id', related_name='chats', on_delete=OnDelete.SET_NULL)),
                ('queued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_message_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_customer_message_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_message_text', fields.CharField(null=True, max_length=200)),
                ('last_message_sender', fields.CharField(null=True, max_length=16)),
                ('activity_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('bot_fallbacks', fields.IntField(default=0)),
                ('handoff_reason', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'chats', 'app': 'models', 'unique_together': (('channel', 'external_id'),), 'indexes': [Index(fields=['activity_at', 'id']), Index(fields=['assigned_agent_id', 'activity_at']), Index(fields=['mode', 'activity_at']), Index(fields=['mode', 'queued_at']), Index(fields=['updated_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChatTransition',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='transitions', on_delete=OnDelete.CASCADE)),
                ('action', fields.CharField(max_length=32)),
                ('from_mode', fields.CharField(max_length=16)),
                ('to_mode', fields.CharField(max_length=16)),
                ('from_agent_id', fields.IntField(null=True)),
                ('to_agent_id', fields.IntField(null=True)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.IntField(null=True)),
                ('reason', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_transitions', 'app': 'models', 'indexes': [Index(fields=['chat_id', 'id'])], 'pk_attr': 'id', 'table_description': "One change of a chat's mode or assignee, with who made it and why."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(unique=False)),
                ('sender', fields.CharEnumField(description='CUSTOMER: customer\nAGENT: agent\nBOT: bot\nSYSTEM: system', enum_type=Sender, max_length=16)),
                ('status', fields.CharEnumField(description='QUEUED: queued\nSENT: sent\nDELIVERED: delivered\nREAD: read\nFAILED: failed', enum_type=Status, max_length=16)),
                ('internal', fields.BooleanField(default=False)),
                ('external_id', fields.CharField(null=True, max_length=255)),
                ('agent', fields.ForeignKeyField('models.User', source_field='agent_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reply_to_external_id', fields.CharField(null=True, max_length=255)),
                ('error', fields.CharField(null=True, max_length=512)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'messages', 'app': 'models', 'unique_together': (('chat_id', 'external_id'),), 'indexes': [Index(fields=['chat_id', 'id']), Index(fields=['external_id']), Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
