from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_events_and_idle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EarlyReceipt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('external_id', fields.CharField(db_index=True, max_length=255)),
                ('status', fields.CharField(max_length=16)),
                ('error', fields.CharField(null=True, max_length=512)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'early_receipts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A provider receipt that came before we had recorded the send it is about.'},
            bases=['Model'],
        ),
    ]
