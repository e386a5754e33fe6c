from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tools import verify_export as v


def test_verifier_keys_round_trip_even_when_base64_contains_plus():
    seen_plus = False
    for _ in range(200):
        pub = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        text = v.vkey("govhub.example.org/ledger", pub)
        seen_plus |= "+" in text.split("+", 2)[2]
        assert v.parse_vkey(text) == ("govhub.example.org/ledger", pub)
    assert seen_plus  # 200 random keys practically always include one with '+' in its base64
