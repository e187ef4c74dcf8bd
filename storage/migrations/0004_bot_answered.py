from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_early_receipts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Chat',
            name='bot_answered_id',
            field=fields.IntField(null=True),
        ),
    ]
