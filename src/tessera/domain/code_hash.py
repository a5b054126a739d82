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
