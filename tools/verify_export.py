#!/usr/bin/env python3
"""Verify a govhub evidence bundle offline. Needs only Python 3.10+ and ``cryptography``.

    python verify_export.py BUNDLE.zip [--key govhub-ledger.pem ...] [--pin PINNED.checkpoint]

Checks, in this order, and stops at the first failure (exit status 1, a message naming it):

1. manifest signature   manifest.json.sig is an Ed25519 signature of manifest.json
2. file digests         every file has the SHA-256 the manifest lists; no file is missing or extra
3. checkpoint signature the C2SP signed note ``checkpoint`` is signed by a known key and matches
                        the tree size and root the manifest names
4. contiguous indices   events.jsonl and omitted.txt together hold every log index of the covered
                        range exactly once, in order
5. recomputed root      RFC 6962 hashing of those leaves plus the range proof gives the signed root
6. consistency proofs   each earlier signed checkpoint is a prefix of this tree (RFC 9162 §2.1.4.2)
7. inclusion proofs     each listed event is in this tree (RFC 9162 §2.1.3.2)

Without ``--key`` the public keys are taken from the bundle itself, which proves integrity but
not origin: pin govhub's published key(s) with ``--key`` (PEM or a signed-note verifier key).
Exit status 0 and a summary on success. This file is also imported by govhub itself
(``apps.audit.merkle``, ``manage.py verify_export``): one implementation of every check.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
SIG_PREFIX = "\u2014 "  # "— " starts a signed-note signature line
FORMAT = "govhub-evidence/1"
REQUIRED_FILES = ("checkpoint", "events.jsonl", "omitted.txt", "proofs/range.json", "proofs/inclusion.json", "proofs/consistency.json")
CHUNK = 1 << 20


class VerificationError(Exception):
    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


# --- RFC 6962 / 9162 -----------------------------------------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """(level, index) of the complete subtrees on the right edge of a tree of ``size``, largest first."""
    return [(lvl, (size >> lvl) - 1) for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """(level, index) of the aligned complete subtrees covering [start, end), left to right."""
    nodes, pos = [], start
    while pos < end:
        level = (pos & -pos).bit_length() - 1 if pos else (end - pos).bit_length() - 1
        while (1 << level) > end - pos:
            level -= 1
        nodes.append((level, pos >> level))
        pos += 1 << level
    return nodes


class CompactRange:
    """The right edge of a growing tree: append leaves or aligned subtrees, read the root. O(log n)."""

    __slots__ = ("levels", "hashes", "size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()):
        levels = [lvl for lvl, _ in frontier_nodes(size)]
        if len(levels) != len(frontier):
            raise ValueError(f"a tree of size {size} has {len(levels)} right-edge nodes, got {len(frontier)}")
        self.levels, self.hashes, self.size = levels, list(frontier), size

    def append(self, h: bytes, level: int = 0) -> None:
        if self.size & ((1 << level) - 1):
            raise ValueError(f"a level-{level} subtree cannot start at leaf {self.size}")
        self.size += 1 << level
        levels, hashes = self.levels, self.hashes
        while levels and levels[-1] == level:
            levels.pop()
            h = _node(hashes.pop(), h)
            level += 1
        levels.append(level)
        hashes.append(h)

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = _node(h, acc)
        return acc


def root_from_range(start: int, end: int, size: int, left: Sequence[bytes], leaves: Iterable[bytes], right: Sequence[bytes]) -> bytes:
    """The root of a tree of ``size`` from the leaf hashes of [start, end), the right edge of
    [0, start) (``left``) and the aligned subtrees of [end, size) (``right``)."""
    cr = CompactRange(start, left)
    for leaf in leaves:
        cr.append(leaf)
    if cr.size != end:
        raise ValueError(f"expected leaves up to {end}, got up to {cr.size}")
    levels = [lvl for lvl, _ in range_nodes(end, size)]
    if len(levels) != len(right):
        raise ValueError(f"[{end}, {size}) has {len(levels)} subtrees, got {len(right)} hashes")
    for lvl, h in zip(levels, right, strict=True):
        cr.append(h, lvl)
    return cr.root()


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 (first == second: the proof is empty and the roots are equal)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- C2SP signed notes and checkpoints -------------------------------------------------------------


def key_hash(name: str, public_key: bytes) -> bytes:
    """Ed25519 key id of a signed-note key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def vkey(name: str, public_key: bytes) -> str:
    """The signed-note verifier key: ``<name>+<key id hex>+<base64(0x01 || key)>``."""
    encoded = base64.b64encode(b"\x01" + public_key).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, bytes]:
    name, hex_id, b64 = text.strip().split("+", 2)  # base64 may itself contain "+"
    raw = base64.b64decode(b64, validate=True)
    if raw[:1] != b"\x01" or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    if key_hash(name, raw[1:]).hex() != hex_id:
        raise ValueError("verifier key id does not match the key")
    return name, raw[1:]


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(signed text, [(name, key id, signature)]) of a signed note."""
    body, sep, sigs = note.partition("\n\n")
    if not sep or not note.endswith("\n"):
        raise ValueError("not a signed note (no blank line before the signatures, or no final newline)")
    out = []
    for line in sigs.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise ValueError(f"malformed signature line {line!r}")
        name, _, b64 = line[len(SIG_PREFIX):].rpartition(" ")
        raw = base64.b64decode(b64, validate=True)
        if len(raw) < 5:
            raise ValueError("signature too short")
        out.append((name, raw[:4], raw[4:]))
    return body + "\n", out


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ValueError("a checkpoint body is origin, size and base64 root, one per line")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("the checkpoint root is not 32 bytes")
    return lines[0], int(lines[1]), root


def verify_note(note: str, keys: dict[bytes, tuple[str, bytes]]) -> list[str]:
    """Names of the known keys (``{key id: (name, public key)}``) whose signatures on ``note``
    verify; raises ValueError if none does."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    body, sigs = split_note(note)
    good = []
    for name, kid, sig in sigs:
        known = keys.get(kid)
        if known is None or known[0] != name:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(known[1]).verify(sig, body.encode())
        except InvalidSignature:
            raise ValueError(f"the signature by {name} (key {kid.hex()}) does not verify")
        good.append(f"{name}+{kid.hex()}")
    if not good:
        raise ValueError("no signature by a known key (key ids " + ", ".join(k.hex() for _, k, _ in sigs) + ")")
    return good


# --- the bundle -------------------------------------------------------------------------------------


class Bundle:
    """A bundle as a zip file or as the directory it was unzipped into."""

    def __init__(self, path: str):
        self.path = path
        self.zip = None if os.path.isdir(path) else zipfile.ZipFile(path)

    def names(self) -> list[str]:
        if self.zip is not None:
            return [n for n in self.zip.namelist() if not n.endswith("/")]
        found = []
        for root, _dirs, files in os.walk(self.path):
            for f in files:
                found.append(os.path.relpath(os.path.join(root, f), self.path).replace(os.sep, "/"))
        return found

    def open(self, name: str):
        if self.zip is not None:
            return self.zip.open(name)
        return open(os.path.join(self.path, *name.split("/")), "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def chunks(self, name: str) -> Iterator[bytes]:
        with self.open(name) as f:
            while chunk := f.read(CHUNK):
                yield chunk


def load_public_key(data: bytes) -> bytes:
    """Raw Ed25519 public key from PEM, or from a signed-note verifier key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = data.decode("ascii", "replace").strip()
    if "+" in text and "BEGIN" not in text:
        return parse_vkey(text)[1]
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _lines(chunks: Iterable[bytes], digest) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        digest.update(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest + b"\x00NO-NEWLINE"  # a final line without newline cannot be a canonical leaf line


def _fail(step: str, message: str):
    raise VerificationError(step, message)


def _keyring(bundle: Bundle, names: set[str], origin: str, pinned: Sequence[bytes]) -> dict[bytes, dict]:
    """{key id: entry} of the keys a signature may come from: the pinned ones, else the bundle's."""
    if pinned:
        return {key_hash(origin, pub): {"name": origin, "public_key": pub, "valid_from": None, "valid_until": None}
                for pub in pinned}
    ring: dict[bytes, dict] = {}
    listed = json.loads(bundle.read("keys/keys.json")) if "keys/keys.json" in names else []
    for entry in listed:
        pem_name = f"keys/{entry['key_id']}.pem"
        if pem_name not in names:
            _fail("manifest signature", f"keys/keys.json lists key {entry['key_id']} but {pem_name} is missing")
        pub = load_public_key(bundle.read(pem_name))
        if base64.b64decode(entry["public_key"]) != pub or key_hash(entry["name"], pub).hex() != entry["key_id"]:
            _fail("manifest signature", f"{pem_name} does not match its entry in keys/keys.json")
        ring[bytes.fromhex(entry["key_id"])] = {**entry, "public_key": pub}
    return ring


def _within_validity(entry: dict, when: str) -> bool:
    t = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    start = entry.get("valid_from")
    end = entry.get("valid_until")
    return (not start or dt.datetime.fromisoformat(start.replace("Z", "+00:00")) <= t) and (
        not end or t < dt.datetime.fromisoformat(end.replace("Z", "+00:00")))


def _check_manifest(bundle: Bundle, names: set[str], pinned: Sequence[bytes]) -> tuple[dict, dict[bytes, dict]]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    step = "manifest signature"
    for required in ("manifest.json", "manifest.json.sig"):
        if required not in names:
            _fail(step, f"{required} is missing from the bundle")
    raw, sig = bundle.read("manifest.json"), bundle.read("manifest.json.sig")
    try:
        manifest = json.loads(raw)
        origin, kid_hex = manifest["log"]["origin"], manifest["signing_key"]["key_id"]
    except (ValueError, KeyError, TypeError) as exc:
        _fail(step, f"manifest.json is not a govhub manifest ({exc})")
    if manifest.get("format") != FORMAT:
        _fail(step, f"unknown bundle format {manifest.get('format')!r} (this verifier reads {FORMAT})")
    ring = _keyring(bundle, names, origin, pinned)
    entry = ring.get(bytes.fromhex(kid_hex))
    if entry is None:
        _fail(step, f"manifest.json is signed by key {kid_hex}, which is not {'pinned' if pinned else 'in keys/keys.json'}")
    try:
        Ed25519PublicKey.from_public_bytes(entry["public_key"]).verify(sig, raw)
    except (InvalidSignature, ValueError):
        _fail(step, f"manifest.json.sig is not a valid Ed25519 signature of manifest.json by key {kid_hex}")
    if not _within_validity(entry, manifest["created_at"]):
        _fail(step, f"key {kid_hex} was not valid at {manifest['created_at']} (valid {entry.get('valid_from')} to {entry.get('valid_until') or 'now'})")
    return manifest, ring


def _stream_leaves(bundle: Bundle, start: int, end: int, size: int, left: list[bytes], right: list[bytes],
                   wanted: set[int]) -> dict:
    """One pass over events.jsonl and omitted.txt: their digests, the first index error, the leaf
    hashes of ``wanted`` indices and the recomputed root. Never raises for content errors."""
    out: dict = {"index_error": None, "leaves": {}, "lines": {}, "events": 0, "omitted": 0, "first": None, "last": None}
    ev_digest, om_digest = hashlib.sha256(), hashlib.sha256()
    ev_lines = _lines(bundle.chunks("events.jsonl"), ev_digest)
    om_lines = _lines(bundle.chunks("omitted.txt"), om_digest)
    sha256, marker = hashlib.sha256, b',"log_index":'
    try:
        cr = CompactRange(start, left)
    except ValueError as exc:
        out["index_error"] = f"proofs/range.json: {exc}"
        cr = None

    def next_omitted(n=[0]):  # noqa: B006  (line counter)
        for line in om_lines:
            n[0] += 1
            try:
                idx_text, hex_hash = line.split(b" ")
                return int(idx_text), bytes.fromhex(hex_hash.decode()), n[0]
            except ValueError:
                return -1, b"", n[0]
        return None

    def problem(expected: int, got: int, where: str) -> str:
        return f"log index {expected} is {'duplicated or out of order' if got < expected else 'missing'} ({where} has {got})"

    def take_omitted_below(limit: float) -> None:
        nonlocal om, expected
        while om is not None and om[0] < limit and not out["index_error"]:
            if om[0] != expected:
                out["index_error"] = problem(expected, om[0], f"omitted.txt line {om[2]}")
                return
            cr.append(om[1])
            out["omitted"] += 1
            expected += 1
            om = next_omitted()

    expected, om = start, next_omitted()
    line_no = 0
    hashes, levels = (cr.hashes, cr.levels) if cr is not None else ([], [])
    for line in ev_lines:
        line_no += 1
        if out["index_error"]:
            continue
        j = line.rfind(marker)
        try:
            idx = int(line[j + 13:-1]) if j > 0 and line.endswith(b"}") else -1
        except ValueError:
            idx = -1
        if idx < 0:
            out["index_error"] = f"events.jsonl line {line_no} is not a canonical leaf line with a log_index"
            continue
        take_omitted_below(idx)
        if out["index_error"]:
            continue
        if idx != expected:
            out["index_error"] = problem(expected, idx, f"events.jsonl line {line_no}")
            continue
        leaf = h = sha256(b"\x00" + line).digest()
        n, lvl = cr.size, 0  # CompactRange.append(leaf), inlined: this loop runs once per event
        while n & 1:
            h = sha256(b"\x01" + hashes.pop() + h).digest()
            levels.pop()
            n >>= 1
            lvl += 1
        hashes.append(h)
        levels.append(lvl)
        cr.size += 1
        if idx in wanted:
            out["leaves"][idx], out["lines"][idx] = leaf, line
        if out["first"] is None:
            out["first"] = line
        out["last"] = line
        out["events"] += 1
        expected += 1
    if not out["index_error"]:
        take_omitted_below(float("inf"))
    for _ in om_lines:  # drain for the digest
        pass
    if not out["index_error"] and expected != end:
        out["index_error"] = f"the leaves end at log index {expected - 1}, the range proof says the range ends before {end}"
    out["digests"] = {"events.jsonl": ev_digest.hexdigest(), "omitted.txt": om_digest.hexdigest()}
    if not out["index_error"]:
        try:
            levels = [lvl for lvl, _ in range_nodes(end, size)]
            if len(levels) != len(right):
                raise ValueError(f"[{end}, {size}) needs {len(levels)} right-hand subtrees, proofs/range.json has {len(right)}")
            for lvl, h in zip(levels, right, strict=True):
                cr.append(h, lvl)
            out["root"] = cr.root()
        except ValueError as exc:
            out["index_error"] = f"proofs/range.json: {exc}"
    return out


def verify_bundle(path: str, pinned_keys: Sequence[bytes] = (), pinned_checkpoint: str | None = None, log=print) -> str:
    """Run every check in order; raise VerificationError at the first failure; return a summary."""
    bundle = Bundle(path)
    names = set(bundle.names())
    manifest, ring = _check_manifest(bundle, names, pinned_keys)
    log(f"ok  1 manifest signature (key {manifest['signing_key']['key_id']}{', pinned' if pinned_keys else ', from the bundle'})")

    step = "file digests"
    files = manifest.get("files") or {}
    present = names - {"manifest.json", "manifest.json.sig"}
    if missing := sorted(set(files) - present):
        _fail(step, f"{missing[0]} is listed in the manifest but missing from the bundle")
    if extra := sorted(present - set(files)):
        _fail(step, f"{extra[0]} is in the bundle but not listed in the manifest")
    for required in REQUIRED_FILES:
        if required not in files:
            _fail(step, f"the manifest does not list {required}, which every bundle has")
    streamed = {"events.jsonl", "omitted.txt"}
    for name in sorted(set(files) - streamed):
        digest = hashlib.sha256()
        for chunk in bundle.chunks(name):
            digest.update(chunk)
        if digest.hexdigest() != files[name]["sha256"]:
            _fail(step, f"{name} has SHA-256 {digest.hexdigest()}, the manifest says {files[name]['sha256']}")
    rng = json.loads(bundle.read("proofs/range.json"))
    inclusion = json.loads(bundle.read("proofs/inclusion.json"))
    start, end, size = int(rng["start"]), int(rng["end"]), int(rng["tree_size"])
    wanted = {int(p["log_index"]) for p in inclusion.get("proofs", [])}
    s = _stream_leaves(bundle, start, end, size, [bytes.fromhex(h) for h in rng["left"]], [bytes.fromhex(h) for h in rng["right"]], wanted)
    for name in sorted(streamed):
        if s["digests"][name] != files[name]["sha256"]:
            _fail(step, f"{name} has SHA-256 {s['digests'][name]}, the manifest says {files[name]['sha256']}")
    log(f"ok  2 file digests ({len(files)} files)")

    step = "checkpoint signature"
    note = bundle.read("checkpoint").decode("utf-8")
    keys = {kid: (e["name"], e["public_key"]) for kid, e in ring.items()}
    try:
        signers = verify_note(note, keys)
        origin, tree_size, root = parse_checkpoint(split_note(note)[0])
    except ValueError as exc:
        _fail(step, f"checkpoint: {exc}")
    log_info = manifest["log"]
    if (origin, tree_size, base64.b64encode(root).decode()) != (log_info["origin"], log_info["tree_size"], log_info["root_hash"]):
        _fail(step, f"the checkpoint ({origin}, size {tree_size}) does not match the manifest ({log_info['origin']}, size {log_info['tree_size']})")
    if size != tree_size:
        _fail(step, f"proofs/range.json is for tree size {size}, the checkpoint for {tree_size}")
    log(f"ok  3 checkpoint signature ({', '.join(signers)}; tree size {tree_size})")

    if s["index_error"]:
        _fail("contiguous indices", s["index_error"])
    log(f"ok  4 contiguous indices ({start}..{end - 1}: {s['events']} events in scope, {s['omitted']} omitted as hashes)")
    if s["root"] != root:
        _fail("recomputed root", f"the leaves give root {base64.b64encode(s['root']).decode()}, the signed checkpoint says "
                                 f"{base64.b64encode(root).decode()}: events.jsonl or omitted.txt differs from what the log signed")
    log("ok  5 recomputed root matches the signed checkpoint")

    step = "consistency proofs"
    proofs = json.loads(bundle.read("proofs/consistency.json")).get("proofs", [])
    seen: dict[int, bytes] = {}
    for p in proofs:
        try:
            verify_note(p["first_checkpoint"], keys)
            o1, m, r1 = parse_checkpoint(split_note(p["first_checkpoint"])[0])
        except ValueError as exc:
            _fail(step, f"earlier checkpoint of size {p.get('first')}: {exc}")
        if o1 != origin or m != p["first"] or p["second"] != tree_size:
            _fail(step, f"proof {p['first']}->{p['second']} does not match its checkpoints")
        if not verify_consistency(m, tree_size, r1, root, [bytes.fromhex(h) for h in p["path"]]):
            _fail(step, f"the signed checkpoint of size {m} is not a prefix of the tree of size {tree_size}")
        seen[m] = r1
    if pinned_checkpoint is not None:
        try:
            verify_note(pinned_checkpoint, keys)
            po, pm, pr = parse_checkpoint(split_note(pinned_checkpoint)[0])
        except ValueError as exc:
            _fail(step, f"your pinned checkpoint: {exc}")
        if po != origin or (pm == tree_size and pr != root) or (pm < tree_size and seen.get(pm) != pr):
            _fail(step, f"no proof that the bundle's tree extends your pinned checkpoint of size {pm}")
        if pm > tree_size:
            _fail(step, f"your pinned checkpoint (size {pm}) is newer than the bundle (size {tree_size}); "
                        f"fetch /api/v1/ledger/proofs/consistency?first={tree_size}&second={pm}")
    log(f"ok  6 consistency proofs ({len(proofs)} earlier checkpoints{', including your pin' if pinned_checkpoint else ''})")

    step = "inclusion proofs"
    for p in inclusion.get("proofs", []):
        idx = int(p["log_index"])
        leaf = s["leaves"].get(idx)
        if leaf is None or leaf.hex() != p["leaf_hash"]:
            _fail(step, f"log index {idx}: the proof's leaf is not line of events.jsonl with that index")
        if json.loads(s["lines"][idx])["event"]["event_id"] != p["event_id"]:
            _fail(step, f"log index {idx} is not event {p['event_id']}")
        if not verify_inclusion(leaf, idx, tree_size, [bytes.fromhex(h) for h in p["path"]], root):
            _fail(step, f"event {p['event_id']} (log index {idx}) is not proven to be in the tree of size {tree_size}")
    log(f"ok  7 inclusion proofs ({len(inclusion.get('proofs', []))} events)")

    when = ""
    if s["first"] is not None:
        t0 = json.loads(s["first"])["event"]["occurred_at"]
        t1 = json.loads(s["last"])["event"]["occurred_at"]
        when = f", occurred {t0} .. {t1}"
    note_pin = "" if pinned_keys else "\nnote: keys were taken from the bundle itself; pin govhub's published key with --key to rule out a re-signed bundle"
    return (f"OK: {origin} tree size {tree_size} root {base64.b64encode(root).decode()}; {s['events']} events in scope{when}; "
            f"{len(proofs)} consistency and {len(inclusion.get('proofs', []))} inclusion proofs verified{note_pin}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a govhub evidence bundle offline.")
    parser.add_argument("bundle", help="the .zip (or the directory it was unzipped into)")
    parser.add_argument("--key", action="append", default=[], help="pinned public key: PEM file or signed-note verifier key file (repeatable)")
    parser.add_argument("--pin", help="a checkpoint you pinned earlier: the bundle's tree must extend it")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        pins = [load_public_key(open(p, "rb").read()) for p in args.key]
        pinned = open(args.pin, encoding="utf-8").read() if args.pin else None
    except (OSError, ValueError) as exc:
        print(f"FAIL: cannot read a pinned key or checkpoint: {exc}", file=sys.stderr)
        return 1
    try:
        summary = verify_bundle(args.bundle, pinned_keys=pins, pinned_checkpoint=pinned,
                                log=(lambda m: None) if args.quiet else print)
    except VerificationError as exc:
        print(f"FAIL {exc.step}: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, zipfile.BadZipFile) as exc:
        print(f"FAIL reading the bundle: {exc}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        print(f"FAIL the bundle is malformed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


__all__ = [
    "Bundle", "CompactRange", "EMPTY_ROOT", "FORMAT", "VerificationError", "frontier_nodes", "key_hash", "load_public_key",
    "main", "parse_checkpoint", "parse_vkey", "range_nodes", "root_from_range", "split_note", "verify_bundle",
    "verify_consistency", "verify_inclusion", "verify_note", "vkey",
]

if __name__ == "__main__":
    sys.exit(main())
