"""RFC 6962 / RFC 9162 known-answer tests: the 8-leaf tree of the Certificate Transparency test data
(transparency-dev/merkle testonly, certificate-transparency-go), plus RFC 8785 canonical JSON."""

import hashlib
import json
import random

import pytest

from apps.audit import canonical, merkle
from tools import verify_export as v

LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (3, 8, ["0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (7, 8, ["b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
# (first size, second size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def test_leaf_and_node_hashing_follow_rfc6962():
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.leaf_hash(b"") == bytes.fromhex(ROOTS[0])
    assert merkle.node_hash(HASHES[0], HASHES[1]) == hashlib.sha256(b"\x01" + HASHES[0] + HASHES[1]).digest()
    assert merkle.node_hash(HASHES[0], HASHES[1]).hex() == ROOTS[1]
    assert merkle.root([]) == hashlib.sha256(b"").digest() == v.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_8_leaf_tree(size):
    assert merkle.root(HASHES[:size]).hex() == ROOTS[size - 1]
    # extending an empty tree leaf by leaf gives the same right edge and root
    _created, edge, n = merkle.extend(0, [], HASHES[:size])
    assert n == size and merkle.fold(edge).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proof_vectors(index, size, path):
    proof = merkle.inclusion_proof(HASHES[:size], index)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size - 1])
    assert v.verify_inclusion(HASHES[index], index, size, proof, root)
    # the usual corruptions fail (transparency-dev's probes)
    assert not v.verify_inclusion(HASHES[index], index + 1, size, proof, root)
    assert not v.verify_inclusion(HASHES[index], index, size * 2, proof, root)
    assert not v.verify_inclusion(merkle.leaf_hash(b"WrongLeaf"), index, size, proof, root)
    assert not v.verify_inclusion(HASHES[index], index, size, proof, v.EMPTY_ROOT)
    assert not v.verify_inclusion(HASHES[index], index, size, [*proof, root], root)
    if proof:
        assert not v.verify_inclusion(HASHES[index], index, size, proof[:-1], root)
        flipped = bytes([proof[0][0] ^ 8]) + proof[0][1:]
        assert not v.verify_inclusion(HASHES[index], index, size, [flipped, *proof[1:]], root)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proof_vectors(first, second, path):
    proof = merkle.consistency_proof(HASHES[:second], first)
    assert [p.hex() for p in proof] == path
    r1, r2 = bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
    assert v.verify_consistency(first, second, r1, r2, proof)
    assert not v.verify_consistency(first, second, r2 if first != second else v.EMPTY_ROOT, r2, proof)
    if proof:
        assert not v.verify_consistency(first, second, r1, r2, proof[:-1])
        assert not v.verify_consistency(first, second, r1, bytes.fromhex(ROOTS[0]), proof)


def test_every_proof_of_every_small_tree_verifies_and_range_roots_agree():
    for n in range(1, 40):
        leaves = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(n)]
        r = merkle.root(leaves)
        for i in range(n):
            assert v.verify_inclusion(leaves[i], i, n, merkle.inclusion_proof(leaves, i), r)
        for m in range(1, n + 1):
            assert v.verify_consistency(m, n, merkle.root(leaves[:m]), r, merkle.consistency_proof(leaves, m))
        for a in range(0, n + 1, 3):
            for b in range(a, n + 1, 2):
                left = [merkle.root(leaves[i << lvl:(i + 1) << lvl]) for lvl, i in merkle.frontier_nodes(a)]
                right = [merkle.root(leaves[i << lvl:(i + 1) << lvl]) for lvl, i in merkle.range_nodes(b, n)]
                assert v.root_from_range(a, b, n, left, leaves[a:b], right) == r


def test_extending_in_batches_stores_exactly_the_complete_subtrees():
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(37)]
    nodes: dict = {}
    size, edge = 0, []
    for cut in (1, 2, 7, 8, 20, 37):
        created, edge, size = merkle.extend(size, edge, leaves[size:cut])
        for lvl, idx, h in created:
            assert (lvl, idx) not in nodes
            nodes[(lvl, idx)] = h
    assert merkle.fold(edge) == merkle.root(leaves)
    assert len(nodes) == 37 - bin(37).count("1")
    for (lvl, idx), h in nodes.items():
        assert h == merkle.root(leaves[idx << lvl:(idx + 1) << lvl])


def _random_json(rng: random.Random, depth: int = 0):
    kind = rng.choice(["str", "int", "bool", "null", "float", "dict", "list"] if depth < 3 else ["str", "int", "float"])
    if kind == "str":
        return "".join(rng.choice(['a', 'é', '"', '\\', '\n', '\x01', '\u2028', '😀', 'Z', ' ', '/', '\x7f']) for _ in range(rng.randint(0, 6)))
    if kind == "int":
        return rng.choice([0, -1, 7, 2**53 - 1, -(2**53 - 1), 2**60, rng.randint(-10**6, 10**6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "float":
        return rng.choice([0.1, 1.0, 1e21, -2.5e-7, 123456.789, 5e-324, rng.uniform(-1e6, 1e6)])
    if kind == "dict":
        return {rng.choice(["a", "b", "z", "é", "€", "😀", "10", "1", "key"]) + str(i): _random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}
    return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def test_fast_canonical_json_is_rfc8785():
    rng = random.Random(8785)
    for _ in range(3000):
        doc = {"event": _random_json(rng), "log_index": rng.randint(0, 10**9)}
        assert canonical.dumps(doc) == canonical.reference_dumps(doc)
    # RFC 8785 §3.2.2/3.2.3 examples: numbers and key order by UTF-16 code units
    assert canonical.dumps({"b": 1.0, "a": 1e21, "c": 0.000001}) == b'{"a":1e+21,"b":1,"c":0.000001}'
    # U+FB33 sorts after U+1F600, whose UTF-16 form starts with the surrogate 0xD83D
    assert canonical.dumps({"\ufb33": 3, "\U0001f600": 2, "\u20ac": 1}) == '{"\u20ac":1,"\U0001f600":2,"\ufb33":3}'.encode()
    assert json.loads(canonical.dumps({"big": 2**60})) == {"big": str(2**60)}
