"""CSV rows of a partner file: what is a code, what is an expiry, which header is usable."""

import hmac
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidTag

from tessera.adapters.crypto import Sealer
from tessera.domain.errors import Invalid
from tessera.domain.lists import CodeRow, RowParser, RowProblem, is_low, parse_expiry

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_a_date_expiry_means_the_end_of_that_day_in_utc():
    assert parse_expiry("2027-01-31", NOW) == datetime(2027, 2, 1, tzinfo=UTC)
    assert parse_expiry("2027-01-31T10:00:00+03:00", NOW) == datetime(2027, 1, 31, 7, tzinfo=UTC)
    assert parse_expiry("  ", NOW) is None


@pytest.mark.parametrize("text", ["2027-13-01", "tomorrow", "2027-01-31T10:00:00", "2020-01-01"])
def test_an_unusable_expiry_is_a_reason_not_a_crash(text):
    with pytest.raises(ValueError, match="expiry"):
        parse_expiry(text, NOW)


def test_rows_shorter_than_the_header_are_fine_longer_ones_are_not():
    parser = RowParser(["code", "description", "expiry"], NOW)
    assert parser.parse(2, [" C1 "]) == CodeRow(2, "C1", None, None)
    assert parser.parse(3, ["C1", "d", "", "x"]) == RowProblem(3, "has 4 fields; the header has 3")
    assert parser.parse(4, ["bad\x07code"]) == RowProblem(4, "code contains a control character")


def test_a_header_without_a_code_column_refuses_the_file():
    with pytest.raises(Invalid) as caught:
        RowParser(["voucher", "expiry"], NOW)
    assert caught.value.code == "csv_no_code_column"


def test_low_stock_is_reached_at_the_threshold_exactly():
    assert [is_low(79, 100, 80), is_low(80, 100, 80), is_low(0, 0, 80)] == [False, True, False]


def test_the_fast_code_hash_is_standard_hmac_sha256():
    sealer = Sealer(b"k" * 32)
    key = hmac.digest(b"k" * 32, b"tessera/code-hash/v1", "sha256")
    assert sealer.hash("CODE-1") == hmac.digest(key, b"CODE-1", "sha256")


def test_a_sealed_code_opens_only_in_its_own_context():
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal_many([b"A", b"B"], b"list-1")
    assert [sealer.open(x, b"list-1") for x in sealed] == [b"A", b"B"]
    assert sealed[0][:12] != sealed[1][:12]  # one nonce per code
    with pytest.raises(InvalidTag):
        sealer.open(sealed[0], b"list-2")
