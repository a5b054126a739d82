"""schemathesis over the OpenAPI schema against a live `tessera serve` on PostgreSQL: no input
answers a 5xx, and every answer is what the schema declares (see tests/fuzzing.py)."""

from collections.abc import Iterator
from typing import Any

import pytest

from fuzzing import FUZZ_SETTINGS, Served, openapi_schema, served

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
IDS: dict[str, Any] = {}  # the seeded records, once the server runs
schema = openapi_schema(IDS)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, postgres_database_url: str) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz-postgresql")
    with served(postgres_database_url, tmp) as server:
        IDS.update(server.ids)
        yield server


def test_the_fuzzed_schema_is_the_one_served_on_postgresql(live):
    assert live.document == schema.raw_schema


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_input_answers_a_5xx_or_breaks_the_schema_on_postgresql(case, live):
    live.check(case)
