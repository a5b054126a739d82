from hypothesis import given
from hypothesis import strategies as st

from tessera.domain.code_hash import code_hash, code_hashes
from tessera.domain.codes import CodeFormat, generate_codes


@given(secret=st.binary(min_size=1, max_size=200), count=st.integers(0, 30))
def test_bulk_code_hashes_equal_the_one_by_one_hmac(secret, count):
    codes = generate_codes(CodeFormat(length=8, alphabet="alphanumeric", prefix="AB"), count)
    assert code_hashes(secret, codes) == [code_hash(secret, c) for c in codes]
