from django.db import migrations

FORWARD = """
-- The tree's tables are insert-only, like the events.
CREATE TRIGGER audit_logentry_append_only BEFORE UPDATE OR DELETE ON audit_logentry
    FOR EACH ROW EXECUTE FUNCTION govhub_refuse_ledger_change();
CREATE TRIGGER audit_treenode_append_only BEFORE UPDATE OR DELETE ON audit_treenode
    FOR EACH ROW EXECUTE FUNCTION govhub_refuse_ledger_change();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION govhub_refuse_ledger_change();

-- Events: still no DELETE and no UPDATE, with one narrow exception for GDPR erasure
-- (apps/audit/erasure.py): inside a transaction that has SET LOCAL govhub.ledger_erasure = 'on',
-- the plain-text personal columns may be blanked. Everything a Merkle leaf is built from must stay
-- as it was: the identifying columns are compared here, and the eraser recomputes each leaf hash
-- before it commits. Tamper evidence does not rest on this trigger but on the signed tree.
CREATE OR REPLACE FUNCTION govhub_audit_event_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('govhub.ledger_erasure', true), '') = 'on'
       AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.actor_kind = OLD.actor_kind
       AND NEW.request_id = OLD.request_id AND NEW.action = OLD.action
       AND NEW.object_type = OLD.object_type AND NEW.object_id = OLD.object_id
       AND NEW.project_id IS NOT DISTINCT FROM OLD.project_id AND NEW.txid = OLD.txid
       AND (NEW.actor_label = OLD.actor_label OR NEW.actor_label = '[erased]')
       AND (NEW.object_repr = OLD.object_repr OR NEW.object_repr = '[erased]')
       AND (NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id OR NEW.actor_id IS NULL)
       AND (SELECT coalesce(jsonb_object_agg(k, v -> 1), '{}'::jsonb) FROM jsonb_each(NEW.pseudonyms) AS n(k, v))
           = (SELECT coalesce(jsonb_object_agg(k, v -> 1), '{}'::jsonb) FROM jsonb_each(OLD.pseudonyms) AS o(k, v))
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION govhub_audit_event_guard();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_logentry_append_only ON audit_logentry;
DROP TRIGGER IF EXISTS audit_treenode_append_only ON audit_treenode;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint;
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION govhub_refuse_ledger_change();
DROP FUNCTION IF EXISTS govhub_audit_event_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_ledger")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
