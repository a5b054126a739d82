"""The keyed hash that stands in for a voucher code in the database.

HMAC-SHA256 with a server secret: a copy of the database alone cannot be turned back into
codes (a plain hash of a 12-digit code could be brute-forced in minutes).
"""

from __future__ import annotations

import hashlib
import hmac

from tessera.domain.codes import normalize


def code_hash(secret: bytes, raw_code: str) -> bytes:
    """32 bytes; the code is normalized first, so '1234-5678' and '12345678' match."""
    return hmac.new(secret, normalize(raw_code).encode(), hashlib.sha256).digest()


def code_hashes(secret: bytes, codes: list[str]) -> list[bytes]:
    """``code_hash`` of many codes already in normal form (as ``generate_codes`` makes them).

    HMAC written out over two pre-keyed SHA-256 states that are copied per code: about
    twice as fast as ``hmac.new`` per code, which matters at a million codes a batch.
    """
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def one(code: str) -> bytes:
        i = inner()
        i.update(code.encode())
        o = outer()
        o.update(i.digest())
        return o.digest()

    return list(map(one, codes))


_BLOCK = 64  # SHA-256 block size: the HMAC key is padded (or first hashed) to it
