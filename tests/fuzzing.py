"""A schemathesis run over the OpenAPI schema against a live `tessera serve` (issue 13 item 11).

`served(database_url, tmp)` starts the server in a subprocess on a free port, makes a fresh
tenant, seeds a few real records (lifecycle, voucher type, voucher, batch, list, campaign,
subscriber, a reward, a spare key) and reads the schema the server serves (a test checks it is
the one fuzzed). The test files (one per store, so `pytest -n 2 --dist loadfile` runs them side
by side) send every generated case with the tenant's admin key and check `not_a_server_error`
and `response_schema_conformance`. About half the cases have their path parameters (and a few
body fields) replaced by the seeded records' ids (hooks on the schema), so the operations behind
an id are reached, not only their 404.

The seed is fixed (`TESSERA_FUZZ_SEED`: the same cases each run) and the run bounded by
``MAX_EXAMPLES`` per operation; `TESSERA_FUZZ_EXAMPLES` raises it for a longer run by hand.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tessera.bootstrap import build
from tessera.config import Settings
from tessera.entrypoints.http.app import create_app
from tessera.services.tenants import create_tenant

SEED = int(os.environ.get("TESSERA_FUZZ_SEED", "13011"))  # each operation's seed derives from it
MAX_EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance]
CODE_SECRET = "fuzz-code-secret-not-for-production"
LIST_KEY = "dGVzc2VyYS10ZXN0LWxpc3Qta2V5LTMyLWJ5dGVzLiE="  # 32 bytes, tests only

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # a fixed seed: a failure comes back on the next run
    database=None,  # nothing remembered between runs, so every run is the same run
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def openapi_schema(ids: dict[str, Any]) -> Any:
    """The schema `tessera serve` serves at /openapi.json (the test checks they are equal),
    built here at import: schemathesis's lazy `from_fixture` does not run on pytest 9.2.

    About half the cases have their path parameters, and a few body fields, replaced by the
    seeded records' ids (``ids``, filled once the server is seeded; read at each draw)."""
    container = build(Settings(database_url="sqlite://"))
    try:
        document = create_app(container).openapi()
    finally:
        container.close()
    config = schemathesis.Config(seed=SEED)
    schema = schemathesis.openapi.from_dict(document, config=config)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not path_parameters:
            return st.just(path_parameters)
        real = {**path_parameters, **{k: ids[k] for k in path_parameters if k in ids}}
        return st.sampled_from([path_parameters, real])

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        real = dict(body)
        for name, value in body.items():
            seeded = ids.get(BODY_FIELDS.get(name, ""))
            if seeded is not None and not isinstance(value, dict | list):
                real[name] = seeded
        return st.sampled_from([body, real])

    return schema


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    base: str
    key: str
    log: Path
    document: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)  # path parameter -> a seeded value
    statuses: Counter[str] = field(default_factory=Counter)  # "METHOD /path status" -> answers
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=10))  # the last requests

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def check(self, case: schemathesis.Case) -> None:
        """Send ``case`` with the admin key and apply the two checks. A request that gets
        no answer fails with what was sent before it and the end of the server's log."""
        try:
            response = case.call(base_url=self.base, headers=self.headers, timeout=30)
        except requests.exceptions.Timeout:
            pytest.fail(
                f"{case.operation.label} got no answer in 30 s; sent before it: "
                f"{list(self.recent)}; the server's log ends:\n{self.log.read_text()[-4000:]}"
            )
        self.recent.append(f"{case.method} {case.formatted_path}")
        self.statuses[f"{case.operation.label} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS, headers=self.headers)


BODY_FIELDS = {  # a body field -> the path parameter whose seeded id it takes
    "voucher_type_id": "type_id",
    "lifecycle_id": "lifecycle_id",
    "serial": "serial",
    "subscriber": "external_id",
}


@contextlib.contextmanager
def served(database_url: str, tmp: Path) -> Iterator[Served]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PROMETHEUS_"))}
    env |= {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": CODE_SECRET,
        "TESSERA_LIST_KEY": LIST_KEY,
        "TESSERA_LOG_LEVEL": "warning",
        "TESSERA_PRINT_DIR": str(tmp / "print"),
    }
    container = build(Settings(database_url=database_url))
    if container.settings.is_sqlite:
        container.migrate()
    _tenant, key = create_tenant(container.directory(), f"fuzz-{uuid.uuid4().hex[:10]}")
    container.close()
    log = tmp / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tessera.entrypoints.cli", "serve", "--workers", "1",
             "--port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base, log)
        live = Served(base=base, key=key, log=log)
        with httpx.Client(base_url=base, headers=live.headers, timeout=30) as client:
            live.ids = _seed(client)
        live.document = httpx.get(f"{base}/openapi.json").json()
        yield live
        summary = tmp / "statuses.txt"
        summary.write_text("".join(f"{n:6} {k}\n" for k, n in sorted(live.statuses.items())))
        classes = Counter()
        for k, n in live.statuses.items():
            classes[k.rsplit(" ", 1)[1][0] + "xx"] += n
        print(
            f"\n{sum(classes.values())} requests {dict(sorted(classes.items()))}; by operation: {summary}"
        )
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        process.kill()
        process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, f"the server stopped: {log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, "the server did not start"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


def _seed(client: httpx.Client) -> dict[str, Any]:
    lifecycle = _created(
        client.post(
            "/v1/lifecycles",
            json={"name": "30 days", "validity_kind": "from_issue", "validity_days": 30},
        )
    )
    voucher_type = _created(
        client.post(
            "/v1/voucher-types",
            json={
                "name": "Data 1GB",
                "cost_minor": 500,
                "currency": "EUR",
                "lifecycle_id": lifecycle["id"],
                "buckets": [{"balance_type": "data_mb", "amount": 1024, "validity_days": 30}],
            },
        )
    )
    voucher = _created(client.post("/v1/vouchers", json={"voucher_type_id": voucher_type["id"]}))
    batch = _created(
        client.post("/v1/batches", json={"voucher_type_id": voucher_type["id"], "count": 20})
    )
    voucher_list = _created(
        client.post("/v1/voucher-lists", json={"partner": "CinemaCo", "name": "tickets"})
    )
    client.post(
        f"/v1/voucher-lists/{voucher_list['id']}/codes", content=b"code\nFUZZ-A\nFUZZ-B\nFUZZ-C\n"
    )
    campaign = _created(
        client.post(
            "/v1/campaigns",
            json={
                "name": "Data lover",
                "trigger_types": ["usage.data"],
                "condition": "event.attributes.mb >= 100",
                "rewards": [
                    {
                        "kind": "credit_bucket",
                        "balance_type": "data_mb",
                        "amount": 500,
                        "validity_days": 7,
                    }
                ],
                "status": "active",
                "funding_partner": "StreamCo",
                "cost_per_reward_minor": 30,
                "currency": "EUR",
            },
        )
    )
    subscriber = "254700000001"
    client.put(f"/v1/subscribers/{subscriber}", json={"attributes": {"tier": "gold"}})
    events = _created(
        client.post(
            "/v1/events",
            json={
                "events": [
                    {
                        "id": "fuzz-1",
                        "subscriber": subscriber,
                        "type": "usage.data",
                        "occurred_at": "2026-11-23T10:00:00Z",
                        "attributes": {"mb": 150},
                    }
                ]
            },
        )
    )
    spare = _created(client.post("/v1/keys", json={"name": "spare", "role": "pos"}))
    ids: dict[str, Any] = {
        "lifecycle_id": lifecycle["id"],
        "type_id": voucher_type["id"],
        "serial": voucher["serial"],
        "batch_id": batch["id"],
        "list_id": voucher_list["id"],
        "campaign_id": campaign["id"],
        "external_id": subscriber,
        "key_id": spare["id"],  # never the admin key: revoking it would end the run's coverage
    }
    rewards = [r for result in events["results"] for r in result.get("rewards", [])]
    if rewards:
        ids["reward_id"] = rewards[0]["reward_id"]
    return ids
