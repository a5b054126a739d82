"""Identifiers: time-ordered UUIDs (version 7), so that ordering by id is ordering by creation.

Cursor pagination relies on that order; Python 3.11 has no ``uuid.uuid7`` yet. Within one
millisecond the 12-bit ``rand_a`` field counts up (RFC 9562, method 1), so ids made by one
process stay in creation order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = 0
_sequence = 0


def new_id() -> uuid.UUID:
    global _last_millis, _sequence
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _last_millis:
            millis = _last_millis
            _sequence += 1
            if _sequence > 0xFFF:  # counter exhausted: borrow the next millisecond
                millis += 1
                _sequence = 0
        else:
            _sequence = 0
        _last_millis = millis
        sequence = _sequence
    rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= sequence << 64  # rand_a used as a counter
    value |= 0b10 << 62  # variant
    value |= rand_b
    return uuid.UUID(int=value)
