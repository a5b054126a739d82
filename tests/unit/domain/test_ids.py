"""Ids are UUIDv7: ordering by id is ordering by creation, which cursor pagination relies on."""

from tessera.domain.ids import new_id


def test_ids_made_in_one_millisecond_still_sort_in_creation_order():
    made = [new_id() for _ in range(2000)]
    assert made == sorted(made)
    assert {m.version for m in made} == {7}
