"""Response shapes of the ledger API (for the OpenAPI schema; the views build plain dicts)."""

from rest_framework import serializers


class CheckpointSerializer(serializers.Serializer):
    origin = serializers.CharField()
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="hex")
    root_hash_base64 = serializers.CharField()
    key_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    note = serializers.CharField(help_text="C2SP signed note, exactly as published")


class SigningKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    name = serializers.CharField()
    algorithm = serializers.CharField()
    public_key = serializers.CharField(help_text="raw Ed25519 public key, base64")
    vkey = serializers.CharField(help_text="signed-note verifier key")
    fingerprint = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)
    pem = serializers.CharField()


class KeysSerializer(serializers.Serializer):
    origin = serializers.CharField()
    keys = SigningKeySerializer(many=True)


class InclusionProofSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    log_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    leaf = serializers.CharField(help_text="the canonical JSON leaf; leaf_hash = SHA-256(0x00 || leaf)")
    inclusion_path = serializers.ListField(child=serializers.CharField())
    checkpoint = serializers.CharField()


class ConsistencyProofSerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    consistency_path = serializers.ListField(child=serializers.CharField())
    first_checkpoint = serializers.CharField()
    second_checkpoint = serializers.CharField()
