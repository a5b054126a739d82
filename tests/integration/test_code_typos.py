"""A mistyped code is refused by its check character before any voucher lookup, whatever
format its batch uses; a well-typed one is found."""

from datetime import timedelta
from pathlib import Path

import pytest

from batching import make_voucher_type, read_print_file
from tessera.domain.batches import BatchOperation, BatchRequest
from tessera.domain.codes import CodeFormat
from tessera.domain.vouchers import BarPolicy, CodeMistyped
from tessera.services import batches, redemption
from vouchering import by_code, issue, make_type

POLICY = BarPolicy(threshold=50, window=timedelta(minutes=15), period=timedelta(minutes=30))


def _typo(code: str) -> str:
    last = code[-2]
    swapped = "3" if last != "3" else "4"
    return code[:-2] + swapped + code[-1]


def test_a_one_character_typo_is_refused_as_mistyped(container, tenant):
    type_id = make_type(container, tenant[0])
    _, code = issue(container, tenant[0], type_id)
    with pytest.raises(CodeMistyped) as caught:
        redemption.redeem(
            container.uow(tenant[0]), container.code_secret, by_code(_typo(code), "s1"), POLICY
        )
    assert caught.value.code == "code_mistyped" and caught.value.field == "code"
    outcome = redemption.redeem(
        container.uow(tenant[0]), container.code_secret, by_code(code, "s1"), POLICY
    )
    assert outcome.voucher.status == "used"


def test_codes_of_a_batch_in_another_format_are_recognized(container, tenant, tmp_path):
    vt = make_voucher_type(container, tenant[0])
    fmt = CodeFormat(length=10, alphabet="alphanumeric", prefix="XM")
    batch = batches.create_batch(container.uow(tenant[0]), BatchRequest(vt.id, 20, fmt), tmp_path)
    done = batches.generate_batch(
        container.uow(tenant[0]), batch.id, container.code_secret, chunk_size=20
    )
    batches.operate(container.uow(tenant[0]), batch.id, BatchOperation.ACTIVATE)
    code = read_print_file(Path(done.print_file))[0]["code"]
    spaced = f"{code[:4]}-{code[4:8].lower()} {code[8:]}"
    outcome = redemption.redeem(
        container.uow(tenant[0]), container.code_secret, by_code(spaced, "s2"), POLICY
    )
    assert outcome.voucher.batch_id == batch.id
