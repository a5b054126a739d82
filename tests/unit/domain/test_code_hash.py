from tessera.domain.code_hash import code_hash


def test_code_hash_is_keyed_and_ignores_formatting():
    assert code_hash(b"k1", "1234-5678 90") == code_hash(b"k1", "1234567890")
    assert code_hash(b"k1", "1234567890") != code_hash(b"k2", "1234567890")
    assert len(code_hash(b"k1", "abc")) == 32
