from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_handoff_reason_code')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Chat',
            name='sender_unverified',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Message',
            name='sender_auth',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
