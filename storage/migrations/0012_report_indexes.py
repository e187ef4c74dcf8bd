from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_reports')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='ReportEvent',
            name=None,
            fields=['name', 'at'],
        ),
        ops.RemoveIndex(
            model_name='ReportEvent',
            name=None,
            fields=['agent_id', 'name', 'at'],
        ),
        ops.AddIndex(
            model_name='ReportEvent',
            index=Index(fields=['name', 'at', 'agent_id', 'channel', 'value', 'business_value', 'detail', 'chat_id']),
        ),
        ops.AddIndex(
            model_name='ReportEvent',
            index=Index(fields=['agent_id', 'name', 'at', 'channel', 'value', 'business_value', 'detail', 'chat_id']),
        ),
    ]
