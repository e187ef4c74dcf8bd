from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class AddColumn(ops.AddField):
    """Message.author (an integration's name). Its way back drops the column in place:
    Tortoise's RemoveField rebuilds the messages table on SQLite, and the rebuilt table has
    lost the triggers that keep its full-text index (0015) in step."""

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None:
            await state_editor.client.execute_script(
                'ALTER TABLE "messages" DROP COLUMN "author"'
            )


class Migration(migrations.Migration):
    dependencies = [('models', '0017_chat_names_search')]

    initial = False

    operations = [
        AddColumn(
            model_name='Message',
            name='author',
            field=fields.CharField(null=True, max_length=100),
        ),
    ]
