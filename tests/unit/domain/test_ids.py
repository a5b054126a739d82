from tessera.domain.ids import new_id


def test_ids_are_version_7_and_sort_in_creation_order():
    ids = [new_id() for _ in range(20_000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
