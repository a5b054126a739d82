import uuid
from datetime import UTC, datetime, timedelta

from tessera.domain.wallet import Bucket, ServiceState, Subscriber, Wallet

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_wallet_totals_leave_out_expired_buckets():
    sub = Subscriber(uuid.uuid4(), "254700000001", {}, ServiceState.ACTIVE, NOW, NOW)
    wallet = Wallet(
        sub,
        [
            Bucket(1, "data_mb", 100, NOW + timedelta(days=1), NOW),
            Bucket(2, "data_mb", 50, NOW - timedelta(seconds=1), NOW),
            Bucket(3, "data_mb", 7, None, NOW),
            Bucket(4, "sms", 10, None, NOW),
        ],
    )
    assert wallet.totals(NOW) == {"data_mb": 107, "sms": 10}
