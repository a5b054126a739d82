"""Identifiers: time-ordered UUIDs (version 7), so that ordering by id is ordering by creation.

Cursor pagination relies on that order; Python 3.11 has no ``uuid.uuid7`` yet.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_last = 0
_lock = threading.Lock()


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 68) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    global _last
    with _lock:  # within one millisecond the random bits alone would not keep the order
        if value <= _last:
            value = _last + 1  # RFC 9562 6.2, method 1 style: a counter in the random bits
        _last = value
    return uuid.UUID(int=value)
