from django.db import migrations

# A published version (anything past draft) never changes its content, whatever writes the row.
IMMUTABLE_VERSIONS = """
CREATE OR REPLACE FUNCTION policy_version_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.state <> 'draft' AND (
        NEW.action IS DISTINCT FROM OLD.action OR NEW.params IS DISTINCT FROM OLD.params
        OR NEW.scope IS DISTINCT FROM OLD.scope OR NEW.rego_source IS DISTINCT FROM OLD.rego_source
        OR NEW.tests IS DISTINCT FROM OLD.tests OR NEW.policy_id IS DISTINCT FROM OLD.policy_id
        OR NEW.number IS DISTINCT FROM OLD.number OR NEW.content_digest IS DISTINCT FROM OLD.content_digest
    ) THEN
        RAISE EXCEPTION 'policy version % is % and immutable', OLD.id, OLD.state USING ERRCODE = 'check_violation';
    END IF;
    IF (OLD.state = 'retired' AND NEW.state <> 'retired')
       OR (OLD.state = 'active' AND NEW.state NOT IN ('active', 'retired'))
       OR (OLD.state = 'review' AND NEW.state = 'draft') THEN
        RAISE EXCEPTION 'policy version % cannot go from % to %', OLD.id, OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER policy_version_immutable BEFORE UPDATE ON policy_policyversion
    FOR EACH ROW EXECUTE FUNCTION policy_version_immutable();
CREATE OR REPLACE FUNCTION policy_version_no_delete() RETURNS trigger AS $$
BEGIN
    IF OLD.state <> 'draft' THEN
        RAISE EXCEPTION 'policy version % is % and cannot be deleted', OLD.id, OLD.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER policy_version_no_delete BEFORE DELETE ON policy_policyversion
    FOR EACH ROW EXECUTE FUNCTION policy_version_no_delete();
"""

DROP = """
DROP TRIGGER IF EXISTS policy_version_immutable ON policy_policyversion;
DROP TRIGGER IF EXISTS policy_version_no_delete ON policy_policyversion;
DROP FUNCTION IF EXISTS policy_version_immutable();
DROP FUNCTION IF EXISTS policy_version_no_delete();
"""


def load(apps, schema_editor):
    from apps.policy.reference import load as load_reference

    load_reference(apps.get_model("policy", "TransferRule"), apps.get_model("policy", "JurisdictionLanguage"),
                   apps.get_model("catalog", "Jurisdiction"))


class Migration(migrations.Migration):
    dependencies = [("policy", "0001_initial"), ("catalog", "0002_reference_data")]

    operations = [
        migrations.RunSQL(IMMUTABLE_VERSIONS, DROP),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
