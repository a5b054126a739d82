"""Sealed blocks of EDRs: a record changed, removed or inserted in a sealed range, or a block
edited, is found and named; an untouched chain holds."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tessera.domain.edr import Edr
from tessera.domain.edr_seal import (
    GENESIS,
    Breach,
    block_of,
    block_record,
    canonical,
    edr_of,
    seal,
    verify_chain,
)

TENANT = uuid.uuid4()
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def edr(i: int, **changes: object) -> Edr:
    e = Edr(
        id=i, tenant_id=TENANT, occurred_at=T0 + timedelta(seconds=i), actor_key_id=None,
        operation="voucher.redeem", subject_type="voucher", subject_id=str(1000 + i),
        status_before="available", status_after="used", amount_minor=500, currency="KES",
        details={"n": i, "nested": {"b": [1, 2], "a": "é"}},
    )  # fmt: skip
    return replace(e, **changes)  # type: ignore[arg-type]


def chain(ids_per_block: list[list[int]], last_ids: list[int]):
    blocks, previous = [], None
    for ids, last in zip(ids_per_block, last_ids, strict=True):
        previous = seal(TENANT, previous, last, [edr(i) for i in ids], T0)
        blocks.append(previous)
    return blocks


def test_an_untouched_chain_holds_and_links_from_genesis():
    blocks = chain([[1, 2, 4], [5, 9]], [4, 10])
    assert blocks[0].prev_hash == GENESIS and blocks[1].prev_hash == blocks[0].hash
    result = verify_chain([(blocks[0], [edr(1), edr(2), edr(4)]), (blocks[1], [edr(5), edr(9)])])
    assert result.ok and result.blocks == 2 and result.sealed == 5
    assert result.chain_head == blocks[1].hash


def test_every_field_is_in_the_canonical_form():
    base = canonical(edr(1))
    for field, value in [
        ("occurred_at", T0 + timedelta(microseconds=1)), ("actor_key_id", uuid.uuid4()),
        ("operation", "voucher.reverse"), ("subject_type", "x"), ("subject_id", "1"),
        ("status_before", None), ("status_after", "x"), ("amount_minor", 501),
        ("currency", "USD"), ("details", {"n": 1, "nested": {"b": [2, 1], "a": "é"}}),
        ("tenant_id", uuid.uuid4()), ("id", 2),
    ]:  # fmt: skip
        assert canonical(edr(1, **{field: value})) != base, field


def test_a_changed_record_is_named():
    [block] = chain([[1, 2, 3]], [3])
    result = verify_chain([(block, [edr(1), edr(2, amount_minor=1), edr(3)])])
    assert result.first is not None
    assert (result.first.breach, result.first.edr_id) == (Breach.CHANGED, 2)


def test_a_removed_record_is_named_in_the_middle_and_at_the_end():
    [block] = chain([[1, 2, 3]], [3])
    middle = verify_chain([(block, [edr(1), edr(3)])]).first
    end = verify_chain([(block, [edr(1), edr(2)])]).first
    assert middle is not None and (middle.breach, middle.edr_id) == (Breach.REMOVED, 2)
    assert end is not None and (end.breach, end.edr_id) == (Breach.REMOVED, 3)


def test_a_record_inserted_into_a_sealed_range_is_named():
    [block] = chain([[1, 3]], [5])
    found = verify_chain([(block, [edr(1), edr(2), edr(3)])]).first
    assert found is not None and (found.breach, found.edr_id) == (Breach.INSERTED, 2)
    after = verify_chain([(block, [edr(1), edr(3), edr(5)])]).first
    assert after is not None and (after.breach, after.edr_id) == (Breach.INSERTED, 5)


def test_a_block_rewritten_to_match_an_edit_breaks_the_next_link():
    first, second = chain([[1, 2], [3]], [2, 3])
    forged = seal(TENANT, None, 2, [edr(1), edr(2, amount_minor=1)], T0)
    result = verify_chain([(forged, [edr(1), edr(2, amount_minor=1)]), (second, [edr(3)])])
    assert result.first is not None
    assert (result.first.breach, result.first.block_seq) == (Breach.BLOCK, 2)
    edited = replace(first, last_id=5)
    found = verify_chain([(edited, [edr(1), edr(2)])]).first
    assert found is not None and found.breach is Breach.BLOCK


def test_a_block_and_a_record_survive_their_export_form():
    [block] = chain([[1]], [1])
    assert block_of(block_record(block)) == block
    record = {
        "id": 1, "tenant_id": str(TENANT), "occurred_at": (T0 + timedelta(seconds=1)).isoformat(),
        "actor_key_id": None, "operation": "voucher.redeem", "subject_type": "voucher",
        "subject_id": "1001", "status_before": "available", "status_after": "used",
        "amount_minor": 500, "currency": "KES", "details": {"n": 1, "nested": {"b": [1, 2], "a": "é"}},
    }  # fmt: skip
    assert canonical(edr_of(record)) == canonical(edr(1))
