from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

async def _conversations_in_human_hands(apps, schema_editor):
    # A chat a person holds (or that waits for one) when reports begin is in human hands
    # since its last change, as near as the rows tell: its resolution counts from there.
    await schema_editor.client.execute_script(
        'UPDATE "chats" SET "handed_off_at" = "updated_at" '
        "WHERE \"mode\" = 'agent' OR (\"mode\" = 'paused' AND \"assigned_agent_id\" IS NOT NULL)"
    )


class Migration(migrations.Migration):
    dependencies = [('models', '0010_contacts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CsatSurvey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='csat_surveys', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=16)),
                ('agent_id', fields.IntField(null=True)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='sent', max_length=16)),
                ('message_id', fields.IntField(null=True)),
                ('rating', fields.SmallIntField(null=True)),
                ('rated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('comment', fields.TextField(null=True, unique=False)),
                ('commented_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'csat_surveys', 'app': 'models', 'unique_together': (('chat_id', 'opened_at'),), 'indexes': [Index(fields=['sent_at']), Index(fields=['rated_at']), Index(fields=['agent_id', 'rated_at'])], 'pk_attr': 'id', 'table_description': "A satisfaction survey sent when a conversation closed, and the customer's answer."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=24)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='report_events', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=16)),
                ('agent_id', fields.IntField(null=True)),
                ('value', fields.FloatField(null=True)),
                ('business_value', fields.FloatField(null=True)),
                ('detail', fields.CharField(null=True, max_length=255)),
            ],
            options={'table': 'report_events', 'app': 'models', 'indexes': [Index(fields=['name', 'at']), Index(fields=['agent_id', 'name', 'at']), Index(fields=['chat_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One fact the reports count, written in the transaction of the change it counts.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Chat',
            name='first_response_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Chat',
            name='handed_off_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Chat',
            name='opened_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Chat',
            index=Index(fields=['created_at']),
        ),
        ops.AddField(
            model_name='Message',
            name='interactive',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunPython(_conversations_in_human_hands, ops.RunPython.noop),
    ]
