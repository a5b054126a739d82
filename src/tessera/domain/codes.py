"""Voucher code formats: generation, normalization and check characters.

A check character lets a mistyped code be refused before any database lookup, and the
code-space rule keeps blind guessing hopeless. Standard library only.
"""

from __future__ import annotations

import secrets
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Literal, TypeAlias, cast

from tessera.domain.errors import Invalid

__all__ = [
    "ALPHANUMERIC",
    "DIGITS",
    "MAX_GUESS_ODDS",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "Alphabet",
    "CodeFormat",
    "CodeFormatError",
    "CodeSpaceTooSmall",
    "check_character",
    "ensure_code_space",
    "generate_codes",
    "guess_odds",
    "has_valid_check",
    "is_well_formed",
    "last4",
    "normalize",
]

DIGITS = "0123456789"
# No 0 O 1 I L: they are misread on printed vouchers and when read out over the phone.
ALPHANUMERIC = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

Alphabet: TypeAlias = Literal["digits", "alphanumeric"]
_ALPHABETS: dict[str, str] = {"digits": DIGITS, "alphanumeric": ALPHANUMERIC}
_SYMBOL_SETS: dict[str, frozenset[str]] = {s: frozenset(s) for s in _ALPHABETS.values()}
_PREFIX_CHARS = frozenset(string.ascii_uppercase + string.digits)

MIN_LENGTH = 4
MAX_LENGTH = 64

MAX_GUESS_ODDS = 1e-6
# Compare exactly against the decimal the constant is written as, not its binary float,
# so that e.g. 10**6 codes of 12 digits sit exactly on the limit and are accepted.
_MAX_GUESS_ODDS_EXACT = Fraction(repr(MAX_GUESS_ODDS))


class CodeFormatError(Invalid):
    """An invalid code format; ``field`` names the setting so callers can point at it."""

    code = "code_format_invalid"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)

    def __str__(self) -> str:
        return self.reason


class CodeSpaceTooSmall(Invalid):
    """Too many codes for the space: a guesser would hit a live code too often."""

    code = "code_space_too_small"

    def __init__(self, count: int, code_space: int) -> None:
        self.count = count
        self.code_space = code_space
        self.odds = count / code_space
        super().__init__(
            "count",
            f"{count} codes in a code space of {code_space} give guess odds of "
            f"{self.odds:.3g}, above the limit of {MAX_GUESS_ODDS:g}; "
            "use longer codes or the alphanumeric alphabet",
            count=count,
            code_space=code_space,
            odds=self.odds,
        )

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class CodeFormat:
    """How a campaign's codes look: ``length`` random symbols after ``prefix``, then a check."""

    length: int = 12
    alphabet: Alphabet = "digits"
    prefix: str = ""
    check_character: bool = True

    def __post_init__(self) -> None:
        # Checked at run time too: formats arrive from JSON and request bodies.
        if not isinstance(self.length, int) or isinstance(self.length, bool):
            raise CodeFormatError("length", "must be an integer")
        if not MIN_LENGTH <= self.length <= MAX_LENGTH:
            raise CodeFormatError("length", f"must be between {MIN_LENGTH} and {MAX_LENGTH}")
        if not isinstance(self.alphabet, str) or self.alphabet not in _ALPHABETS:
            raise CodeFormatError("alphabet", f"must be one of: {', '.join(_ALPHABETS)}")
        if not isinstance(self.prefix, str):
            raise CodeFormatError("prefix", "must be a string")
        if normalize(self.prefix) != self.prefix:
            raise CodeFormatError(
                "prefix", "would be changed by normalization (lower case, spaces or dashes)"
            )
        if not _PREFIX_CHARS.issuperset(self.prefix):
            raise CodeFormatError("prefix", "may only contain A-Z and 0-9")
        if not isinstance(self.check_character, bool):
            raise CodeFormatError("check_character", "must be true or false")

    @property
    def symbols(self) -> str:
        return _ALPHABETS[self.alphabet]

    @property
    def code_space(self) -> int:
        """How many distinct codes exist; the prefix and check character add none."""
        space: int = len(self.symbols) ** self.length
        return space

    @property
    def total_length(self) -> int:
        return len(self.prefix) + self.length + (1 if self.check_character else 0)

    def to_dict(self) -> dict[str, int | str | bool]:
        return {
            "length": self.length,
            "alphabet": self.alphabet,
            "prefix": self.prefix,
            "check_character": self.check_character,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CodeFormat:
        """Every key is required: a stored format must not change meaning if defaults do."""
        expected = {"length", "alphabet", "prefix", "check_character"}
        if unknown := sorted(set(data) - expected):
            raise CodeFormatError(unknown[0], "is not a code format setting")
        if missing := sorted(expected - set(data)):
            raise CodeFormatError(missing[0], "is missing")
        # __post_init__ checks the types; the casts only tell mypy it will.
        return cls(
            length=cast(int, data["length"]),
            alphabet=cast(Alphabet, data["alphabet"]),
            prefix=cast(str, data["prefix"]),
            check_character=cast(bool, data["check_character"]),
        )


def guess_odds(count: int, fmt: CodeFormat) -> float:
    """The chance that one random well-formed guess is a live code."""
    if count < 0:
        raise ValueError("count must not be negative")
    return count / fmt.code_space


def ensure_code_space(count: int, fmt: CodeFormat) -> None:
    """Refuse a campaign whose codes could be guessed with odds above ``MAX_GUESS_ODDS``."""
    guess_odds(count, fmt)  # validates count
    if Fraction(count, fmt.code_space) > _MAX_GUESS_ODDS_EXACT:
        raise CodeSpaceTooSmall(count, fmt.code_space)


# --- normalization ----------------------------------------------------------------------

# ASCII fast path; must remove exactly what _is_noise removes among ASCII characters.
_ASCII_NOISE = {c: None for c in range(128) if chr(c).isspace() or chr(c) == "-"}


def _is_noise(ch: str) -> bool:
    # Pd: every Unicode dash (en, em, non-breaking hyphen ...); Cf: invisible characters
    # such as zero-width space and soft hyphen that come along when codes are copied.
    return ch.isspace() or ch == "\u2212" or unicodedata.category(ch) in ("Pd", "Cf")


def normalize(raw: str) -> str:
    """The canonical form people's typing is compared in: no spaces or dashes, upper case."""
    if raw.isascii():
        return raw.translate(_ASCII_NOISE).upper()
    return "".join(ch for ch in raw.upper() if not _is_noise(ch))


def last4(code: str) -> str:
    """Enough of a code for a support screen to tell codes apart without revealing them."""
    return normalize(code)[-4:]


# --- check characters -------------------------------------------------------------------

# Damm, not Luhn: Luhn misses the 09<->90 transposition; every adjacent swap must be caught.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# Luhn mod N, odd-N variant: a doubled value is reduced mod N. Classic Luhn mod N folds 2v
# into base-N digits, which for odd N maps v and v+15 alike (N=31) and lets substitutions
# through; 31 is prime, so doubling mod 31 catches every substitution and adjacent swap.


def _values(text: str, symbols: str) -> list[int]:
    values = [symbols.find(ch) for ch in text]
    if -1 in values:
        raise ValueError("text contains a character outside the alphabet")
    return values


def _require_check_alphabet(symbols: str) -> None:
    if symbols not in _SYMBOL_SETS:
        raise ValueError("no check-character algorithm for this alphabet")


def _damm(values: list[int]) -> int:
    state = 0
    for v in values:
        state = _DAMM[state][v]
    return state


def _luhn_sum(values: list[int], n: int, *, double_rightmost: bool) -> int:
    total = 0
    double = double_rightmost
    for v in reversed(values):
        total += 2 * v if double else v
        double = not double
    return total % n


def check_character(payload: str, symbols: str) -> str:
    """The check character appended to ``payload`` (the random symbols, no prefix)."""
    _require_check_alphabet(symbols)
    values = _values(payload, symbols)
    if symbols == DIGITS:
        return DIGITS[_damm(values)]
    n = len(symbols)
    return symbols[-_luhn_sum(values, n, double_rightmost=True) % n]


def has_valid_check(code_body: str, symbols: str) -> bool:
    """Whether ``code_body`` (random symbols then check character, no prefix) checks out."""
    _require_check_alphabet(symbols)
    if len(code_body) < 2:
        return False
    try:
        values = _values(code_body, symbols)
    except ValueError:
        return False
    if symbols == DIGITS:
        return _damm(values) == 0
    return _luhn_sum(values, len(symbols), double_rightmost=False) == 0


def is_well_formed(fmt: CodeFormat, raw: str) -> bool:
    """Whether ``raw`` could be a code of ``fmt``; refuses typing errors without a lookup."""
    code = normalize(raw)
    if len(code) != fmt.total_length or not code.startswith(fmt.prefix):
        return False
    body = code[len(fmt.prefix) :]
    if not _SYMBOL_SETS[fmt.symbols].issuperset(body):
        return False
    return not fmt.check_character or has_valid_check(body, fmt.symbols)


# --- generation -------------------------------------------------------------------------
# Check characters are computed a column at a time for a whole batch, never per code: the
# running state of every code is one byte of a big int, and each step is
# ``state = step[state * multiplier + column value]``, applied by ``bytes.translate``.
# Damm: multiplier 10 and the Damm table. Luhn mod 31: multiplier 1, weighted values and
# reduction mod 31. No lane exceeds 255, so big-int arithmetic never carries across codes.
# Tests compare the result with ``check_character``.

_BATCH_SYMBOLS = 1 << 22  # bounds memory for huge campaigns; big enough to amortize calls


@dataclass(frozen=True, slots=True)
class _CheckPlan:
    multiplier: int
    columns: tuple[bytes, ...]  # per payload position: translate table symbol byte -> value
    step: bytes  # combined key -> next state
    final: bytes  # final state -> check character byte


@cache
def _check_plan(symbols: str, length: int) -> _CheckPlan:
    _require_check_alphabet(symbols)
    n = len(symbols)

    def column(weight: int) -> bytes:
        table = bytearray(256)
        for v, ch in enumerate(symbols.encode("ascii")):
            table[ch] = weight * v
        return bytes(table)

    if symbols == DIGITS:
        step = bytes(_DAMM[k // 10][k % 10] if k < 100 else 0 for k in range(256))
        final = bytes(ord(DIGITS[s]) if s < 10 else 0 for s in range(256))
        return _CheckPlan(10, (column(1),) * length, step, final)
    # The payload's rightmost symbol is doubled, then every second one leftwards.
    weights = [2 if (length - 1 - i) % 2 == 0 else 1 for i in range(length)]
    step = bytes(k % n for k in range(256))
    final = bytes(ord(symbols[-s % n]) if s < n else 0 for s in range(256))
    return _CheckPlan(1, tuple(column(w) for w in weights), step, final)


def _check_bytes(bodies: bytes, count: int, length: int, symbols: str) -> bytes:
    """The check characters of ``count`` bodies laid end to end, one byte per body."""
    plan = _check_plan(symbols, length)
    state = 0
    for i, table in enumerate(plan.columns):
        values = int.from_bytes(bodies[i::length].translate(table), "little")
        key = (state * plan.multiplier + values).to_bytes(count, "little")
        state = int.from_bytes(key.translate(plan.step), "little")
    return state.to_bytes(count, "little").translate(plan.final)


@cache
def _byte_map(symbols: str) -> tuple[bytes, bytes]:
    """``bytes.translate`` arguments: byte b -> symbols[b % N], deleting the biased tail."""
    n = len(symbols)
    usable = 256 // n * n
    table = bytes(ord(symbols[b % n]) for b in range(256))
    return table, bytes(range(usable, 256))


def generate_codes(
    fmt: CodeFormat,
    count: int,
    *,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[str]:
    """``count`` random full codes (prefix, symbols, check). Duplicates are possible: the
    database's unique index removes them, and ``ensure_code_space`` keeps them rare.

    Random bytes are drawn in large blocks and mapped by ``bytes.translate`` at C speed;
    bytes past the last whole multiple of N are deleted so every symbol is equally likely.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    symbols, length = fmt.symbols, fmt.length
    prefix = fmt.prefix.encode("ascii")
    width = fmt.total_length
    table, delete = _byte_map(symbols)
    usable = 256 - len(delete)
    per_batch = max(1, _BATCH_SYMBOLS // length)

    codes: list[str] = []
    leftover = b""  # drawn but unused; kept so the random stream is consumed in order
    while len(codes) < count:
        batch = min(per_batch, count - len(codes))
        needed = batch * length
        parts = [leftover]
        have = len(leftover)
        while have < needed:
            missing = needed - have
            # Expected yield is usable/256 per byte; the margin makes a second draw rare.
            drawn = random_bytes(missing * 256 // usable + missing // 64 + 64)
            accepted = drawn.translate(table, delete)
            if not accepted:
                raise RuntimeError("the random source returned no usable bytes")
            parts.append(accepted)
            have += len(accepted)
        stream = b"".join(parts)
        bodies, leftover = stream[:needed], stream[needed:]

        if width == length:
            text = bodies.decode("ascii")
        else:  # lay prefix, body and check columns side by side, a column at a time
            out = bytearray(width * batch)
            for j, ch in enumerate(prefix):
                out[j::width] = bytes((ch,)) * batch
            for i in range(length):
                out[len(prefix) + i :: width] = bodies[i::length]
            if fmt.check_character:
                out[width - 1 :: width] = _check_bytes(bodies, batch, length, symbols)
            text = out.decode("ascii")
        codes.extend([text[k : k + width] for k in range(0, len(text), width)])
    return codes
