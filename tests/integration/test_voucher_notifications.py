"""Voucher changes queue their notifications in the same transaction (outbox)."""

from datetime import timedelta

from tessera.domain.vouchers import BarPolicy
from tessera.services import notifications, redemption
from tessera.services.expiry import expire_all
from vouchering import by_code, issue, make_type

POLICY = BarPolicy(threshold=5, window=timedelta(minutes=15), period=timedelta(minutes=30))


def _queued(container, tenant_id):
    with container.uow(tenant_id) as uow:
        return [n.event_type for n in uow.notifications.list(None, 100).items]


def test_redeem_expire_and_fulfilment_are_queued_for_subscribed_endpoints(container, tenant, clock):
    tenant_id = tenant[0]
    notifications.create_endpoint(
        container.uow(tenant_id),
        container.webhook_targets,
        "http://127.0.0.1:9/hook",
        ["voucher.redeemed", "voucher.expired", "fulfilment.requested"],
    )
    plain = make_type(container, tenant_id, validity_days=1, grace_days=0)
    offer = make_type(container, tenant_id, offer="BUNDLE-5GB", buckets=())
    _, code = issue(container, tenant_id, plain)
    _, offer_code = issue(container, tenant_id, offer)
    issue(container, tenant_id, plain)  # left unused: it will expire
    redemption.redeem(
        container.uow(tenant_id), container.code_secret, by_code(code, "254700000001"), POLICY
    )
    redemption.redeem(
        container.uow(tenant_id), container.code_secret, by_code(offer_code, "254700000001"), POLICY
    )
    clock.advance(days=3)
    expire_all(container.directory(), container.uow)
    assert sorted(_queued(container, tenant_id)) == [
        "fulfilment.requested", "voucher.expired", "voucher.redeemed", "voucher.redeemed",
    ]  # fmt: skip
