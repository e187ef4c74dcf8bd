from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_report_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='KbArticle',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('tags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('source', fields.CharField(null=True, unique=True, max_length=255)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='kb_articles', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'kb_articles', 'app': 'models', 'indexes': [Index(fields=['updated_at'])], 'pk_attr': 'id', 'table_description': 'A knowledge-base article: what the LLM engine answers from and the copilot cites.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='KbChunk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.KbArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='chunks', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('heading', fields.CharField(default='', max_length=255)),
                ('text', fields.TextField(unique=False)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('embedding', fields.BinaryField(null=True)),
                ('embedding_model', fields.CharField(null=True, max_length=128)),
            ],
            options={'table': 'kb_chunks', 'app': 'models', 'unique_together': (('article_id', 'position'),), 'pk_attr': 'id', 'table_description': 'A passage of an article: the unit retrieval finds and the engine quotes.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LlmCall',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('purpose', fields.CharField(max_length=16)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', null=True, db_constraint=True, to_field='id', related_name='llm_calls', on_delete=OnDelete.CASCADE)),
                ('agent_id', fields.IntField(null=True)),
                ('model', fields.CharField(max_length=128)),
                ('prompt_tokens', fields.IntField(default=0)),
                ('completion_tokens', fields.IntField(default=0)),
                ('seconds', fields.FloatField()),
                ('outcome', fields.CharField(max_length=16)),
                ('error', fields.CharField(null=True, max_length=255)),
            ],
            options={'table': 'llm_calls', 'app': 'models', 'indexes': [Index(fields=['at', 'purpose']), Index(fields=['chat_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One request to the language model: what it was for, what it cost, how it ended.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Message',
            name='sources',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
