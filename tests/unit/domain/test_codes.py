"""Rules of voucher code formats: generation, check characters, normalization, code space."""

from __future__ import annotations

import json
import random
import secrets
import string
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import cycle, islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.domain import codes
from tessera.domain.codes import (
    ALPHANUMERIC,
    DIGITS,
    MAX_GUESS_ODDS,
    CodeFormat,
    CodeFormatError,
    CodeSpaceTooSmall,
    check_character,
    ensure_code_space,
    generate_codes,
    guess_odds,
    has_valid_check,
    is_well_formed,
    last4,
    normalize,
)

prefixes = st.text(alphabet=string.ascii_uppercase + string.digits, max_size=6)
lengths = st.integers(min_value=4, max_value=64)
alphabets = st.sampled_from(["digits", "alphanumeric"])
formats = st.builds(
    CodeFormat,
    length=lengths,
    alphabet=alphabets,
    prefix=prefixes,
    check_character=st.booleans(),
)
checked_formats = st.builds(CodeFormat, length=lengths, alphabet=alphabets, prefix=prefixes)
digit_formats = st.builds(CodeFormat, length=lengths, alphabet=st.just("digits"), prefix=prefixes)
# Hypothesis-controlled randomness, so failures shrink and replay.
rngs = st.randoms(use_true_random=False)


def one_code(fmt: CodeFormat, rng: random.Random) -> str:
    return generate_codes(fmt, 1, random_bytes=rng.randbytes)[0]


def body_of(fmt: CodeFormat, code: str) -> str:
    return code[len(fmt.prefix) :]


def stream_source(stream: Iterator[int]) -> Callable[[int], bytes]:
    """A ``random_bytes`` stub handing out a fixed byte stream, in order."""
    return lambda n: bytes(islice(stream, n))


# --- generation -----------------------------------------------------------------------


@given(fmt=formats, rng=rngs, count=st.integers(min_value=0, max_value=40))
def test_every_generated_code_is_well_formed(
    fmt: CodeFormat, rng: random.Random, count: int
) -> None:
    generated = generate_codes(fmt, count, random_bytes=rng.randbytes)
    assert len(generated) == count
    for code in generated:
        assert len(code) == fmt.total_length
        assert code.startswith(fmt.prefix)
        assert is_well_formed(fmt, code)


@given(fmt=checked_formats, rng=rngs)
def test_every_generated_code_passes_its_check(fmt: CodeFormat, rng: random.Random) -> None:
    for code in generate_codes(fmt, 20, random_bytes=rng.randbytes):
        body = body_of(fmt, code)
        assert has_valid_check(body, fmt.symbols)
        assert body[-1] == check_character(body[:-1], fmt.symbols)


@pytest.mark.parametrize("alphabet", ["digits", "alphanumeric"])
@pytest.mark.parametrize("length", [4, 5, 12, 13, 64])
def test_bulk_check_characters_match_check_character(alphabet: str, length: int) -> None:
    # Bulk generation computes check characters column-wise; it must agree code by code.
    fmt = CodeFormat(length=length, alphabet=alphabet)  # type: ignore[arg-type]
    for code in generate_codes(fmt, 5_000):
        assert code[-1] == check_character(code[:-1], fmt.symbols)


@given(fmt=formats, seed=st.integers(min_value=0), count=st.integers(min_value=1, max_value=60))
def test_codes_do_not_depend_on_how_generation_is_batched(
    fmt: CodeFormat, seed: int, count: int
) -> None:
    # A byte stream, not Random.randbytes: that one yields different bytes for other sizes.
    stream = random.Random(seed).randbytes(10_000)
    whole = generate_codes(fmt, count, random_bytes=stream_source(iter(stream)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codes, "_BATCH_SYMBOLS", 7)  # forces many batches and carried-over bytes
        batched = generate_codes(fmt, count, random_bytes=stream_source(iter(stream)))
    assert batched == whole


@given(fmt=formats, count=st.integers(min_value=0, max_value=200), start=st.integers(0, 255))
def test_stubbed_generation_returns_the_count_asked_for_in_alphabet_symbols(
    fmt: CodeFormat, count: int, start: int
) -> None:
    source = stream_source(cycle([*range(start, 256), *range(start)]))
    generated = generate_codes(fmt, count, random_bytes=source)
    assert len(generated) == count
    for code in generated:
        assert set(body_of(fmt, code)) <= set(fmt.symbols)


@pytest.mark.parametrize("symbols", [DIGITS, ALPHANUMERIC])
@given(data=st.data())
def test_rejection_sampling_never_uses_bytes_past_the_last_whole_cycle(
    symbols: str, data: st.DataObject
) -> None:
    n = len(symbols)
    usable = 256 // n * n
    accepted = data.draw(st.lists(st.integers(0, usable - 1), min_size=1, max_size=50))
    rejected = data.draw(st.lists(st.integers(usable, 255), min_size=1, max_size=50))
    # Every usable byte is followed by a run of bytes that would bias the symbols if used.
    stream = [b for byte in accepted for b in (byte, *rejected)]
    fmt = CodeFormat(
        length=4, alphabet="digits" if symbols == DIGITS else "alphanumeric", check_character=False
    )
    count = len(accepted) // 4
    generated = generate_codes(fmt, count, random_bytes=stream_source(cycle(stream)))
    expected = "".join(symbols[b % n] for b in accepted[: count * 4])
    assert "".join(generated) == expected


@pytest.mark.parametrize(("alphabet", "length"), [("digits", 5), ("alphanumeric", 8)])
def test_each_usable_byte_value_maps_to_symbols_evenly(alphabet: str, length: int) -> None:
    # One pass over all 256 byte values yields every symbol exactly 256 // N times.
    fmt = CodeFormat(length=length, alphabet=alphabet, check_character=False)  # type: ignore[arg-type]
    n = len(fmt.symbols)
    count = 256 // n * n // length
    generated = generate_codes(fmt, count, random_bytes=stream_source(iter(range(256))))
    assert Counter("".join(generated)) == dict.fromkeys(fmt.symbols, 256 // n)


def test_a_tiny_code_space_can_repeat_codes_and_generation_keeps_them() -> None:
    fmt = CodeFormat(length=4, prefix="X")
    generated = generate_codes(fmt, 100, random_bytes=lambda n: b"\x07" * n)
    assert generated == ["X7777" + check_character("7777", DIGITS)] * 100


def test_generating_no_codes_draws_no_randomness() -> None:
    def refuse(n: int) -> bytes:
        raise AssertionError("drew random bytes")

    assert generate_codes(CodeFormat(), 0, random_bytes=refuse) == []


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate_codes(CodeFormat(), -1)


def test_a_source_of_only_unusable_bytes_fails_instead_of_looping_forever() -> None:
    with pytest.raises(RuntimeError):
        generate_codes(CodeFormat(), 1, random_bytes=lambda n: b"\xff" * n)


def test_generation_uses_the_system_random_source_by_default() -> None:
    generated = generate_codes(CodeFormat(length=20, alphabet="alphanumeric"), 100)
    assert len(set(generated)) == 100
    assert codes.generate_codes.__kwdefaults__ == {"random_bytes": secrets.token_bytes}


# --- check characters -------------------------------------------------------------------


@given(fmt=checked_formats, rng=rngs)
def test_every_single_symbol_substitution_is_rejected(fmt: CodeFormat, rng: random.Random) -> None:
    code = one_code(fmt, rng)
    for i in range(len(fmt.prefix), len(code)):
        for symbol in fmt.symbols:
            if symbol != code[i]:
                assert not is_well_formed(fmt, code[:i] + symbol + code[i + 1 :])


@given(fmt=checked_formats, rng=rngs, data=st.data())
def test_a_character_outside_the_alphabet_is_rejected(
    fmt: CodeFormat, rng: random.Random, data: st.DataObject
) -> None:
    code = one_code(fmt, rng)
    i = data.draw(st.integers(len(fmt.prefix), len(code) - 1))
    foreign = data.draw(st.sampled_from(sorted(set("0O1ILAZ?" + DIGITS) - set(fmt.symbols))))
    assert not is_well_formed(fmt, code[:i] + foreign + code[i + 1 :])


@given(fmt=digit_formats, rng=rngs)
def test_every_swap_of_two_different_neighbouring_digits_is_rejected(
    fmt: CodeFormat, rng: random.Random
) -> None:
    code = one_code(fmt, rng)
    for i in range(len(fmt.prefix), len(code) - 1):  # includes the check digit
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert not is_well_formed(fmt, swapped)


@given(fmt=checked_formats.filter(lambda f: f.alphabet == "alphanumeric"), rng=rngs)
def test_every_swap_of_two_different_neighbouring_alphanumeric_symbols_is_rejected(
    fmt: CodeFormat, rng: random.Random
) -> None:
    code = one_code(fmt, rng)
    for i in range(len(fmt.prefix), len(code) - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert not is_well_formed(fmt, swapped)


def test_damm_table_is_a_weakly_totally_antisymmetric_quasigroup() -> None:
    # The property that makes Damm catch every single error and adjacent transposition.
    table = codes._DAMM
    digits = range(10)
    assert all(sorted(row) == list(digits) for row in table)
    assert all(sorted(table[r][c] for r in digits) == list(digits) for c in digits)
    assert all(table[d][d] == 0 for d in digits)
    for c in digits:
        for x in digits:
            for y in digits:
                if x != y:
                    assert table[table[c][x]][y] != table[table[c][y]][x]


def test_damm_check_digit_matches_the_published_example() -> None:
    assert check_character("572", DIGITS) == "4"
    assert has_valid_check("5724", DIGITS)


def test_the_digit_check_catches_the_09_90_swap_that_luhn_misses() -> None:
    body = "123409" + check_character("123409", DIGITS)
    assert has_valid_check(body, DIGITS)
    assert not has_valid_check("123490" + body[-1], DIGITS)


def test_the_alphanumeric_check_catches_substitutions_classic_luhn_mod_31_misses() -> None:
    # Classic Luhn mod N folds a doubled value into base-N digits: for N=31 that maps
    # '3' (value 1) and 'J' (value 16) both to 2, so swapping them went unnoticed.
    def fold(v: int) -> int:
        return sum(divmod(2 * v, 31))

    assert fold(ALPHANUMERIC.index("3")) == fold(ALPHANUMERIC.index("J"))
    payload = "2223"  # the rightmost payload symbol is the doubled one
    check = check_character(payload, ALPHANUMERIC)
    assert has_valid_check(payload + check, ALPHANUMERIC)
    assert not has_valid_check("222J" + check, ALPHANUMERIC)


def test_check_functions_refuse_alphabets_they_have_no_algorithm_for() -> None:
    with pytest.raises(ValueError, match="alphabet"):
        check_character("ABC", "ABC")
    with pytest.raises(ValueError, match="alphabet"):
        has_valid_check("ABC", "ABC")


def test_a_payload_outside_the_alphabet_has_no_check_character() -> None:
    with pytest.raises(ValueError, match="outside"):
        check_character("12A4", DIGITS)


@pytest.mark.parametrize("body", ["", "0", "12A4", "O000"])
def test_a_body_too_short_or_outside_the_alphabet_fails_its_check(body: str) -> None:
    assert not has_valid_check(body, DIGITS)


# --- well-formedness ------------------------------------------------------------------


@given(fmt=formats, rng=rngs)
def test_a_code_with_a_wrong_prefix_or_length_is_rejected(
    fmt: CodeFormat, rng: random.Random
) -> None:
    code = one_code(fmt, rng)
    assert not is_well_formed(fmt, code[:-1])
    assert not is_well_formed(fmt, code + code[-1])
    if fmt.prefix:
        other = "Q" if fmt.prefix[0] != "Q" else "R"
        assert not is_well_formed(fmt, other + code[1:])
    else:
        assert not is_well_formed(CodeFormat(fmt.length, fmt.alphabet, "Q"), "Q" + code[1:])


def test_empty_input_is_not_a_code() -> None:
    assert not is_well_formed(CodeFormat(), "")
    assert not is_well_formed(CodeFormat(), "   ")


# --- normalization --------------------------------------------------------------------


@given(st.text())
def test_normalize_is_idempotent(raw: str) -> None:
    assert normalize(normalize(raw)) == normalize(raw)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_normalize_drops_whitespace_and_dashes_and_upper_cases(raw: str) -> None:
    expected = "".join(c for c in raw.upper() if not c.isspace() and c != "-")
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  ab-cd\tef  ", "ABCDEF"),
        ("12\u201334\u201456", "123456"),  # en dash, em dash
        ("12\u221234\u201156", "123456"),  # minus sign, non-breaking hyphen
        ("12\u00a034\u200b56\u00ad78", "12345678"),  # no-break space, zero-width space, soft hyphen
        ("x\u30005", "X5"),  # ideographic space
    ],
)
def test_normalize_drops_unicode_spaces_dashes_and_invisible_characters(
    raw: str, expected: str
) -> None:
    assert normalize(raw) == expected


separators = st.sampled_from([" ", "-", "\t", "\u2013", "\u2014", "\u2212", "\u00a0", "\u200b"])


@given(fmt=formats, rng=rngs, data=st.data())
def test_spaces_dashes_and_lower_case_still_give_a_well_formed_code(
    fmt: CodeFormat, rng: random.Random, data: st.DataObject
) -> None:
    code = one_code(fmt, rng)
    typed = list(code.lower() if data.draw(st.booleans()) else code)
    for _ in range(data.draw(st.integers(0, 5))):
        typed.insert(data.draw(st.integers(0, len(typed))), data.draw(separators))
    raw = data.draw(st.sampled_from(["", " ", "\n"])) + "".join(typed) + " "
    assert normalize(raw) == code
    assert is_well_formed(fmt, raw)


def test_last4_is_taken_from_the_normalized_code() -> None:
    assert last4(" ab-cd ef\n") == "CDEF"
    assert last4("1234 5678 9012 3") == "0123"


# --- code space -----------------------------------------------------------------------


def test_guess_odds_is_count_over_code_space() -> None:
    assert guess_odds(1_000, CodeFormat(length=12)) == 1e-9
    assert guess_odds(31, CodeFormat(length=4, alphabet="alphanumeric")) == 31 / 31**4
    with pytest.raises(ValueError, match="negative"):
        guess_odds(-1, CodeFormat())


def test_ensure_code_space_refuses_odds_above_one_in_a_million() -> None:
    fmt = CodeFormat(length=8)  # 10**8 codes: only 100 may be issued
    with pytest.raises(CodeSpaceTooSmall) as caught:
        ensure_code_space(5_000, fmt)
    error = caught.value
    assert (error.count, error.code_space, error.odds) == (5_000, 10**8, 5e-5)
    assert "5000" in str(error)
    assert "100000000" in str(error)


def test_ensure_code_space_accepts_exactly_one_in_a_million() -> None:
    fmt = CodeFormat(length=12)
    ensure_code_space(1_000_000, fmt)
    assert guess_odds(1_000_000, fmt) == MAX_GUESS_ODDS
    with pytest.raises(CodeSpaceTooSmall):
        ensure_code_space(1_000_001, fmt)


@given(fmt=formats)
def test_the_code_space_limit_is_exact_for_every_format(fmt: CodeFormat) -> None:
    limit = fmt.code_space // 10**6
    ensure_code_space(limit, fmt)
    with pytest.raises(CodeSpaceTooSmall):
        ensure_code_space(limit + 1, fmt)


# --- formats --------------------------------------------------------------------------


def test_code_space_and_total_length_count_what_they_say() -> None:
    assert CodeFormat().code_space == 10**12
    assert CodeFormat().total_length == 13
    fmt = CodeFormat(length=10, alphabet="alphanumeric", prefix="XMAS", check_character=False)
    assert fmt.symbols == ALPHANUMERIC
    assert fmt.code_space == 31**10
    assert fmt.total_length == 14


def test_the_alphanumeric_alphabet_has_no_look_alikes() -> None:
    assert len(ALPHANUMERIC) == len(set(ALPHANUMERIC)) == 31
    assert not set("0O1IL") & set(ALPHANUMERIC)
    assert set(ALPHANUMERIC) | set("0O1IL") == set(string.digits + string.ascii_uppercase)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"length": 3}, "length"),
        ({"length": 65}, "length"),
        ({"length": "12"}, "length"),
        ({"length": True}, "length"),
        ({"alphabet": "hex"}, "alphabet"),
        ({"alphabet": ["digits"]}, "alphabet"),
        ({"prefix": "xmas"}, "prefix"),
        ({"prefix": "X-MAS"}, "prefix"),
        ({"prefix": "X MAS"}, "prefix"),
        ({"prefix": "X_MAS"}, "prefix"),
        ({"prefix": "ÉTÉ"}, "prefix"),
        ({"prefix": 42}, "prefix"),
        ({"check_character": "yes"}, "check_character"),
    ],
)
def test_invalid_formats_raise_code_format_error_naming_the_field(
    settings: dict[str, object], field: str
) -> None:
    with pytest.raises(CodeFormatError) as caught:
        CodeFormat(**settings)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert str(caught.value) == caught.value.reason


@pytest.mark.parametrize("length", [4, 64])
def test_length_bounds_are_inclusive(length: int) -> None:
    assert CodeFormat(length=length).length == length


@given(fmt=formats)
def test_a_format_round_trips_through_json(fmt: CodeFormat) -> None:
    assert CodeFormat.from_dict(json.loads(json.dumps(fmt.to_dict()))) == fmt


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"length": None}, "length"),
        ({"prefix": "x"}, "prefix"),
    ],
)
def test_from_dict_refuses_unknown_and_bad_settings_naming_them(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(CodeFormatError) as caught:
        CodeFormat.from_dict({**CodeFormat().to_dict(), **change})
    assert caught.value.field == field


def test_from_dict_requires_every_setting() -> None:
    stored = CodeFormat().to_dict()
    del stored["alphabet"]
    with pytest.raises(CodeFormatError) as caught:
        CodeFormat.from_dict(stored)
    assert caught.value.field == "alphabet"
