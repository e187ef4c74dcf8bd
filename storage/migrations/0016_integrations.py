from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from storage.models import Channel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class AlterFieldState(ops.AlterField):
    """Chat.channel's enum gained API and Widget: its description changes, no column does.
    Tortoise's AlterField would rebuild the chats table on SQLite and lose its indexes and its
    unique (channel, external_id) with it, so only the migration state changes
    (tests/test_migrations.py checks every model's indexes in a migrated database)."""

    async def database_forward(self, *args: object, **kwargs: object) -> None:
        return None

    async def database_backward(self, *args: object, **kwargs: object) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0015_message_search')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiChannel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('callback_url', fields.CharField(max_length=2048)),
                ('secret', fields.CharField(max_length=255)),
                ('active', fields.BooleanField(default=True)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='api_channels', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'api_channels', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A generic channel (docs/api.md, "API channel"): customers\' messages come in through'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('prefix', fields.CharField(max_length=16)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_keys', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A named key for a system of the desk\'s own (docs/api.md, "API keys").'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('url', fields.CharField(max_length=2048)),
                ('secret', fields.CharField(max_length=255)),
                ('events', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('description', fields.CharField(default='', max_length=255)),
                ('active', fields.BooleanField(default=True)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('disabled_reason', fields.CharField(null=True, max_length=255)),
                ('failures_in_row', fields.IntField(default=0)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoints', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A URL of the desk\'s own that msgcenter posts events to (docs/api.md, "Outgoing webhooks").'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('delivery_id', fields.CharField(unique=True, max_length=64)),
                ('event_type', fields.CharField(max_length=64)),
                ('chat_id', fields.IntField(null=True)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('response_status', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=512)),
                ('duration_ms', fields.IntField(null=True)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('queued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_deliveries', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['endpoint_id', 'id']), Index(fields=['endpoint_id', 'chat_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One event for one endpoint: queued in the transaction of the change it reports, then'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Widget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('allowed_origins', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('color', fields.CharField(default='#2563eb', max_length=7)),
                ('greeting', fields.CharField(default='', max_length=500)),
                ('position', fields.CharField(default='right', max_length=8)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('pre_chat_form', fields.BooleanField(default=False)),
                ('identity_secret', fields.CharField(max_length=128)),
                ('active', fields.BooleanField(default=True)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='widgets', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'widgets', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A website live-chat widget (docs/api.md, "Website widget"). Its chats are'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WidgetVisitor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('widget', fields.ForeignKeyField('models.Widget', source_field='widget_id', db_constraint=True, to_field='id', related_name='visitors', on_delete=OnDelete.CASCADE)),
                ('visitor_id', fields.CharField(max_length=140)),
                ('name', fields.CharField(default='', max_length=100)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('email_replies', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'widget_visitors', 'app': 'models', 'unique_together': (('widget_id', 'visitor_id'),), 'pk_attr': 'id', 'table_description': 'A visitor of a widget who told us something of themselves: the pre-chat form\'s name'},
            bases=['Model'],
        ),
        AlterFieldState(
            model_name='Chat',
            name='channel',
            field=fields.CharEnumField(description='TELEGRAM: Telegram\nWHATSAPP: WhatsApp\nEMAIL: Email\nAPI: API\nWIDGET: Widget', enum_type=Channel, max_length=16),
        ),
    ]
