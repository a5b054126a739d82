"""A distribution's common case on PostgreSQL: one statement, its own transaction.

Through the unit of work a distribution costs a BEGIN, seven statements and a COMMIT, and
the list's row (its ``issued`` counter, which every distribution from the list moves) stays
locked from its update until the COMMIT comes back: a round trip later, and with 32 client
threads sharing one interpreter lock, often much later. Profiled with py-spy
(``bench/lists.py``): 59 % of a distribution's time was spent waiting on that row lock.

Here one statement does it all, in the order the locks are taken: the next available code
(``FOR UPDATE SKIP LOCKED``: concurrent takers pass over each other), the subscriber's
holding row (the cap: ``ON CONFLICT DO UPDATE ... WHERE codes < cap``, which waits for a
concurrent distribution to the same subscriber and then sees its count), the code's
compare-and-set, one of the list's issued slots, and the EDR. Each part reads the one
before, so nothing is written unless a code moved; run in autocommit, the statement is its
transaction. The list's row is only read: the first version of this statement still added
to its ``issued`` and ran at 455-601 /s, queued on that row's lock, which a transaction holds
until its commit is flushed to the WAL (with ``synchronous_commit=off``, as a diagnosis only,
1,713 /s); one of 16 slot rows picked at random spreads that queue.

The statement gives a code or nothing. It gives nothing (and writes nothing) in every case
the transactional path decides with more care: a list that is not active or not the
tenant's, a subscriber not yet known, one at the cap, no code left, a take that would raise
the low-stock alert, or a tenant whose webhooks want ``voucher.rewarded`` (the notification
must commit with the code). The caller then runs the distribution through the unit of work.
Tenant: every table is read and written with ``tenant_id = %(tenant)s``, the unit of work's.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

ISSUED_SLOTS = 16  # rows a list's issued figure is spread over (list_issued_slots)

_GIVE = """
WITH figures AS (
    SELECT v.id, v.name, v.partner, v.codes_per_subscriber, v.uploaded, v.low_stock_percent,
           v.low_stock_armed, v.status, v.ends_at,
           v.issued + (SELECT coalesce(sum(s.issued), 0)::bigint FROM list_issued_slots s
                       WHERE s.tenant_id = %(tenant)s AND s.list_id = v.id) AS issued
    FROM voucher_lists v
    WHERE v.tenant_id = %(tenant)s AND v.id = %(list)s
),
lst AS (
    SELECT * FROM figures v
    WHERE v.status = 'active' AND (v.ends_at IS NULL OR v.ends_at > %(now)s)
      AND NOT (v.low_stock_armed AND v.uploaded > 0
               AND (v.issued + 1) * 100 >= v.low_stock_percent * v.uploaded)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_endpoints w
          WHERE w.tenant_id = %(tenant)s AND w.active
            AND w.event_types @> '["voucher.rewarded"]'::jsonb)
),
sub AS (
    SELECT s.id FROM subscribers s
    WHERE s.tenant_id = %(tenant)s AND s.external_id = %(subscriber)s
),
next_code AS (
    SELECT c.id FROM list_codes c
    WHERE c.tenant_id = %(tenant)s AND c.list_id = %(list)s AND c.state = 'available'
      AND (c.expires_at IS NULL OR c.expires_at > %(now)s)
      AND EXISTS (SELECT 1 FROM lst) AND EXISTS (SELECT 1 FROM sub)
    ORDER BY c.upload_id, c.line
    LIMIT 1
    FOR UPDATE SKIP LOCKED
),
claim AS (
    INSERT INTO list_holdings AS h (tenant_id, list_id, subscriber_id, codes)
    SELECT %(tenant)s, %(list)s, sub.id, 1 FROM sub, next_code
    ON CONFLICT (list_id, subscriber_id) DO UPDATE SET codes = h.codes + 1
    WHERE h.tenant_id = %(tenant)s AND h.codes < (SELECT codes_per_subscriber FROM lst)
    RETURNING h.codes
),
taken AS (
    UPDATE list_codes c
    SET state = 'issued', subscriber_id = (SELECT id FROM sub), issued_at = %(now)s
    FROM next_code
    WHERE c.id = next_code.id AND c.tenant_id = %(tenant)s AND c.state = 'available'
      AND EXISTS (SELECT 1 FROM claim)
    RETURNING c.id, c.code_sealed, c.description, c.expires_at
),
counted AS (
    INSERT INTO list_issued_slots AS n (tenant_id, list_id, slot, issued)
    SELECT %(tenant)s, %(list)s, %(slot)s, 1 FROM taken
    ON CONFLICT (list_id, slot) DO UPDATE SET issued = n.issued + 1
    WHERE n.tenant_id = %(tenant)s
    RETURNING n.issued
),
edr AS (
    INSERT INTO edrs (tenant_id, occurred_at, actor_key_id, operation, subject_type,
                      subject_id, status_before, status_after, details, subscriber)
    SELECT %(tenant)s, %(now)s, %(actor)s, 'list.distribute', 'voucher_list', %(list_text)s,
           'available', 'issued',
           jsonb_build_object('code_id', taken.id, 'subscriber', %(subscriber)s::text,
                              'campaign', %(campaign)s::text),
           %(subscriber)s
    FROM taken
)
SELECT t.id, t.code_sealed, t.description, t.expires_at, l.name, l.partner,
       l.uploaded, l.issued + 1, l.low_stock_percent, l.low_stock_armed
FROM taken t, lst l, counted k
"""


@dataclass(frozen=True, slots=True)
class QuickGiven:
    code_id: int
    code_sealed: bytes
    description: str | None
    expires_at: datetime | None
    list_name: str
    partner: str
    uploaded: int
    issued: int
    low_stock_percent: int
    low_stock_armed: bool


class QuickDistribution:
    """The one-statement distribution of one tenant (``tenant_id``), acting as one key."""

    def __init__(
        self, engine: Engine, tenant_id: uuid.UUID, actor_key_id: uuid.UUID | None
    ) -> None:
        self.engine = engine
        self.tenant_id = tenant_id
        self.actor_key_id = actor_key_id

    def give(
        self,
        list_id: uuid.UUID,
        subscriber_external_id: str,
        campaign: str | None,
        now: datetime,
    ) -> QuickGiven | None:
        """A code of this list for this subscriber, committed; None (nothing written) when
        the transactional path has to decide."""
        params = {
            "tenant": self.tenant_id,
            "list": list_id,
            "list_text": str(list_id),
            "subscriber": subscriber_external_id,
            "campaign": campaign,
            "actor": self.actor_key_id,
            "now": now,
            "slot": random.randrange(ISSUED_SLOTS),
        }
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.exec_driver_sql(_GIVE, params).first()
        if row is None:
            return None
        return QuickGiven(
            code_id=row[0],
            code_sealed=bytes(row[1]),
            description=row[2],
            expires_at=row[3],
            list_name=row[4],
            partner=row[5],
            uploaded=row[6],
            issued=row[7],
            low_stock_percent=row[8],
            low_stock_armed=row[9],
        )
