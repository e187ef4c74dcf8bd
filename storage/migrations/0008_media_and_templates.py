from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_sender_auth')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WhatsAppTemplate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=512)),
                ('language', fields.CharField(max_length=16)),
                ('category', fields.CharField(default='', max_length=32)),
                ('status', fields.CharField(max_length=32)),
                ('components', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('external_id', fields.CharField(null=True, max_length=64)),
                ('synced_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'whatsapp_templates', 'app': 'models', 'unique_together': (('name', 'language'),), 'pk_attr': 'id', 'table_description': 'A message template of the WhatsApp Business Account, as the Graph API lists it.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Message',
            name='media_pending',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Message',
            name='template',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddIndex(
            model_name='Message',
            index=Index(fields=['media_pending', 'id']),
        ),
        ops.AddField(
            model_name='User',
            name='signature',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
