from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_notes_and_online')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Chat',
            name='handoff_reason_code',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
