from concurrent.futures import ThreadPoolExecutor


def test_serial_ranges_are_contiguous_increasing_and_never_overlap(container, tenant):
    def reserve(count: int) -> range:
        with container.uow(tenant[0]) as uow:
            first = uow.serials.reserve(count)
            uow.commit()
        return range(first, first + count)

    assert reserve(10) == range(1, 11)
    with ThreadPoolExecutor(max_workers=6) as pool:
        ranges = list(pool.map(reserve, [5] * 30))
    serials = sorted(s for r in ranges for s in r)
    assert serials == list(range(11, 11 + 150))


def test_each_tenant_counts_its_own_serials(container, make_tenant):
    a, b = make_tenant(), make_tenant()
    for tenant_id in (a[0], b[0]):
        with container.uow(tenant_id) as uow:
            assert uow.serials.reserve(3) == 1
            uow.commit()
