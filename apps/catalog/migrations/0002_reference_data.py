from django.db import migrations

from apps.catalog.reference import load_reference_data


def load(apps, schema_editor):
    load_reference_data(apps.get_model("catalog", "Jurisdiction"), apps.get_model("catalog", "Purpose"))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
