"""Regulator bundles: they verify offline with tools/verify_export.py (a subprocess with a Python
that needs only ``cryptography``), and every kind of tampering fails with a message naming it."""

import base64
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from apps.audit import canonical, keys
from apps.audit.models import AuditEvent, SigningKey
from tests.evidence.conftest import read_zip, write_zip
from tests.utils import REPO
from tools import verify_export as v

pytestmark = pytest.mark.django_db
VERIFIER = str(REPO / "tools" / "verify_export.py")


def verify(path, *args):
    # -I: isolated mode, nothing of govhub on the path; the verifier needs only `cryptography`.
    return subprocess.run([sys.executable, "-I", VERIFIER, str(path), *args], capture_output=True, text=True, cwd="/")


@pytest.fixture
def bundle(catalog, compliance, build_bundle, make_dataset):
    from apps.audit import sequencer

    sequencer.sequence()  # an earlier checkpoint, so the bundle carries a consistency proof
    make_dataset(name="later")
    return build_bundle(compliance)


@pytest.fixture
def govhub_key(tmp_path):
    path = tmp_path / "govhub-ledger.pem"
    path.write_bytes(keys.public_pem(SigningKey.objects.get().raw_public_key))
    return path


def resign(files: dict[str, bytes], key: Ed25519PrivateKey, *, announce: bool = True) -> None:
    """What a forger with their own key would do: fix the digests, re-sign, ship their key."""
    manifest = json.loads(files["manifest.json"])
    for name in manifest["files"]:
        if name in files:
            manifest["files"][name]["sha256"] = v.hashlib.sha256(files[name]).hexdigest()
    pub = keys.public_bytes(key)
    origin = manifest["log"]["origin"]
    kid = keys.key_id_hex(origin, pub)
    if announce:
        files[f"keys/{kid}.pem"] = keys.public_pem(pub)
        registry = json.loads(files["keys/keys.json"]) + [{"key_id": kid, "name": origin, "public_key": base64.b64encode(pub).decode(),
                                                            "valid_from": None, "valid_until": None}]
        files["keys/keys.json"] = json.dumps(registry).encode()
        manifest["files"][f"keys/{kid}.pem"] = {"sha256": v.hashlib.sha256(files[f"keys/{kid}.pem"]).hexdigest(), "size": 0}
        manifest["files"]["keys/keys.json"]["sha256"] = v.hashlib.sha256(files["keys/keys.json"]).hexdigest()
        manifest["signing_key"]["key_id"] = kid
    files["manifest.json"] = canonical.dumps(manifest)
    files["manifest.json.sig"] = key.sign(files["manifest.json"])


def test_an_untouched_bundle_verifies(bundle, govhub_key, settings):
    result = verify(bundle.file_name)
    assert result.returncode == 0, result.stderr
    assert "OK: " in result.stdout and "note: keys were taken from the bundle" in result.stdout
    for step in ("1 manifest signature", "2 file digests", "3 checkpoint signature", "4 contiguous indices",
                 "5 recomputed root", "6 consistency proofs", "7 inclusion proofs"):
        assert f"ok  {step}" in result.stdout
    pinned = verify(bundle.file_name, "--key", str(govhub_key))
    assert pinned.returncode == 0 and "note:" not in pinned.stdout
    # a checkpoint a witness saved earlier: the bundle's tree must extend it
    files = read_zip(bundle.file_name)
    proofs = json.loads(files["proofs/consistency.json"])["proofs"]
    assert proofs, "the bundle proves consistency from the checkpoint where its range starts"
    pin = settings.GOVHUB_CHECKPOINT_DIR.parent / "pinned.checkpoint"
    pin.write_text(proofs[0]["first_checkpoint"])
    assert verify(bundle.file_name, "--pin", str(pin)).returncode == 0
    origin, size, root = v.parse_checkpoint(v.split_note(proofs[0]["first_checkpoint"])[0])
    forged_root = base64.b64encode(bytes(32)).decode()
    pin.write_text(proofs[0]["first_checkpoint"].replace(base64.b64encode(root).decode(), forged_root))
    refused = verify(bundle.file_name, "--pin", str(pin))
    assert refused.returncode == 1 and "FAIL consistency proofs: your pinned checkpoint" in refused.stderr


def test_bundle_contents(bundle, catalog):
    files = read_zip(bundle.file_name)
    manifest = json.loads(files["manifest.json"])
    assert files["manifest.json"] == canonical.dumps(manifest)
    assert set(manifest["files"]) == set(files) - {"manifest.json", "manifest.json.sig"}
    assert manifest["requested_by"]["label"] == "clara" and manifest["log"]["tree_size"] == bundle.tree_size
    assert files["checkpoint"].decode().startswith(f"{manifest['log']['origin']}\n{bundle.tree_size}\n")
    lines = files["events.jsonl"].splitlines()
    assert len(lines) == bundle.events_in_scope == manifest["range"]["events"]
    first = json.loads(lines[0])
    assert lines[0] == canonical.dumps(first) and list(first) == ["event", "log_index"]
    ropa = json.loads(files["ropa.json"])
    activity = next(a for a in ropa["activities"] if a["consent_reference"] == "CONSENT-1")
    assert activity["controller"] == "Sovereign Health GmbH" and activity["purposes"] == ["research"]
    assert activity["legal_basis"].startswith("Art. 6(1)(a)") and activity["data_subject_categories"] == ["patients"]
    assert any(t["jurisdiction"] == "US" for t in activity["third_country_transfers"])
    assert b"CONSENT-1" in files["ropa.csv"]
    annex = {m["model"]["name"]: m for m in json.loads(files["annex_iv.json"])["models"]}
    tuned = annex["onco-8b"]
    assert [b["name"] for b in tuned["annex_iv_2a_development"]["base_model_chain"]] == ["s3://models/base-8b"]
    data = {d["name"]: d for d in tuned["annex_iv_2d_article_10_2_training_data"]}
    assert set(data) == {"corpus", "notes"}
    assert data["corpus"]["versions"][0]["preparation"] == "deduplicated, PII scrubbed"
    assert data["corpus"]["collection"]["legal_basis"].startswith("Art. 6(1)(a)")
    assert any("notes" in g and "no consent" in g for g in tuned["gaps"])
    report = files["report.html"].decode()
    assert "onco-8b" in report and "Record of processing" in report and "CONSENT-1" in report
    assert "openssl pkeyutl -verify -pubin" in files["VERIFY.md"].decode()
    assert files["verify_export.py"] == (REPO / "tools" / "verify_export.py").read_bytes()
    # the bundle itself is in the ledger
    done = AuditEvent.objects.get(action="evidence.export.complete", object_id=str(bundle.pk))
    assert done.after["sha256"] == bundle.sha256 == v.hashlib.sha256(open(bundle.file_name, "rb").read()).hexdigest()


def test_editing_a_line_of_events_jsonl_fails(bundle, tmp_path):
    files = read_zip(bundle.file_name)
    lines = files["events.jsonl"].split(b"\n")
    lines[1] = lines[1].replace(b'"v":1', b'"v":2', 1)
    assert lines[1] != read_zip(bundle.file_name)["events.jsonl"].split(b"\n")[1]
    files["events.jsonl"] = b"\n".join(lines)
    forged = tmp_path / "forged.zip"
    write_zip(forged, files)
    result = verify(forged)
    assert result.returncode == 1
    assert "FAIL file digests: events.jsonl has SHA-256" in result.stderr


def test_swapping_the_manifest_signature_fails(bundle, catalog, compliance, build_bundle, tmp_path):
    other = build_bundle(compliance, project=catalog["corpus"].project)
    files = read_zip(bundle.file_name)
    files["manifest.json.sig"] = read_zip(other.file_name)["manifest.json.sig"]
    forged = tmp_path / "forged.zip"
    write_zip(forged, files)
    result = verify(forged)
    assert result.returncode == 1
    assert "FAIL manifest signature: manifest.json.sig is not a valid Ed25519 signature of manifest.json" in result.stderr


def test_re_signing_with_another_key_fails(bundle, govhub_key, tmp_path):
    files = read_zip(bundle.file_name)
    lines = files["events.jsonl"].split(b"\n")
    lines[0] = lines[0].replace(b'"v":1', b'"v":1,"w":0', 1)
    files["events.jsonl"] = b"\n".join(lines)
    resign(files, Ed25519PrivateKey.generate())
    forged = tmp_path / "forged.zip"
    write_zip(forged, files)
    # with govhub's key pinned, the forger's signature is refused outright
    pinned = verify(forged, "--key", str(govhub_key))
    assert pinned.returncode == 1 and "FAIL manifest signature: manifest.json is signed by key" in pinned.stderr
    assert "which is not pinned" in pinned.stderr
    # even trusting the bundle's own keys, the forger cannot sign the checkpoint's root
    unpinned = verify(forged)
    assert unpinned.returncode == 1
    assert "FAIL recomputed root: the leaves give root" in unpinned.stderr


def test_re_signing_under_govhubs_key_id_fails(bundle, tmp_path):
    files = read_zip(bundle.file_name)
    files["report.html"] = b"<p>nothing to see</p>"
    resign(files, Ed25519PrivateKey.generate(), announce=False)  # claims govhub's key id
    forged = tmp_path / "forged.zip"
    write_zip(forged, files)
    result = verify(forged)
    assert result.returncode == 1 and "FAIL manifest signature: manifest.json.sig is not a valid" in result.stderr


def test_reordering_or_dropping_events_fails(bundle, tmp_path):
    files = read_zip(bundle.file_name)
    lines = files["events.jsonl"].split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    files["events.jsonl"] = b"\n".join(lines)
    resign(files, Ed25519PrivateKey.generate())
    forged = tmp_path / "reordered.zip"
    write_zip(forged, files)
    result = verify(forged)
    assert result.returncode == 1 and "FAIL contiguous indices: log index" in result.stderr
    files = read_zip(bundle.file_name)
    del files["proofs/inclusion.json"]
    write_zip(tmp_path / "missing.zip", files)
    result = verify(tmp_path / "missing.zip")
    assert result.returncode == 1 and "FAIL file digests: proofs/inclusion.json is listed in the manifest but missing" in result.stderr


def test_signatures_check_with_openssl_alone(bundle, tmp_path):
    assert shutil.which("openssl"), "openssl (OpenSSL >= 3) is needed to prove VERIFY.md's commands work"
    out = tmp_path / "bundle"
    with zipfile.ZipFile(bundle.file_name) as z:
        z.extractall(out)
    manifest = json.loads((out / "manifest.json").read_bytes())
    mkey = out / "keys" / f"{manifest['signing_key']['key_id']}.pem"
    ok = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(mkey), "-rawin",
                         "-in", str(out / "manifest.json"), "-sigfile", str(out / "manifest.json.sig")], capture_output=True, text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    # the checkpoint, exactly as VERIFY.md says (head/tail/awk/base64)
    script = ("head -n 3 checkpoint > checkpoint.body && tail -n 1 checkpoint | awk '{print $NF}' | base64 -d | tail -c 64 > checkpoint.sig"
              f" && openssl pkeyutl -verify -pubin -inkey keys/{manifest['log']['checkpoint_key_ids'][0]}.pem -rawin"
              " -in checkpoint.body -sigfile checkpoint.sig")
    cp = subprocess.run(["sh", "-c", script], cwd=out, capture_output=True, text=True)
    assert cp.returncode == 0 and "Signature Verified Successfully" in cp.stdout, cp.stdout + cp.stderr
    (out / "manifest.json").write_bytes((out / "manifest.json").read_bytes().replace(b'"format"', b'"formaT"'))
    bad = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(mkey), "-rawin",
                          "-in", str(out / "manifest.json"), "-sigfile", str(out / "manifest.json.sig")], capture_output=True, text=True)
    assert bad.returncode != 0
    # the bundled verifier reads the unzipped directory too
    assert verify(out).returncode == 1


def test_manage_py_verify_export_pins_govhubs_registry(bundle, tmp_path, capsys):
    call_command("verify_export", bundle.file_name)
    assert "OK: " in capsys.readouterr().out
    files = read_zip(bundle.file_name)
    files["ropa.csv"] = b"nothing"
    resign(files, Ed25519PrivateKey.generate())
    write_zip(tmp_path / "forged.zip", files)
    with pytest.raises(CommandError, match="FAIL manifest signature"):
        call_command("verify_export", str(tmp_path / "forged.zip"))
