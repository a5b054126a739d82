"""`tessera worker` is safe to run several times over: a lease in the database lets one worker
run each job at a time, and a dead holder's lease lapses to another worker."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry

from tessera.bootstrap import Container, build
from tessera.entrypoints.worker import Job, Worker, WorkerMetrics

LEASE = 30.0


@pytest.fixture
def second(container: Container) -> Container:
    """Another process's view of the same database: its own engine, the same clock."""
    other = build(container.settings, clock=container.clock)
    yield other
    other.close()


class Probe:
    """A job that records how many copies of itself run at once, and who ran it."""

    def __init__(self, name: str = "probe", pause: float = 0.005) -> None:
        self.name = name
        self.pause = pause
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.runs: Counter[str] = Counter()

    def job(self, who: str) -> Job:
        def run() -> dict[str, int]:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.runs[who] += 1
            time.sleep(self.pause)
            with self.lock:
                self.running -= 1
            return {"probed": 1}

        return Job(self.name, 0.0, run)


def worker(container: Container, jobs: list[Job], holder: str) -> Worker:
    return Worker(container, jobs, WorkerMetrics(CollectorRegistry()), holder=holder)


def test_of_many_takers_at_once_exactly_one_gets_a_free_lease(container, second):
    name = f"race-{time.monotonic_ns()}"
    start = threading.Barrier(6)
    won = []

    def take(i: int) -> None:
        w = worker(container if i % 2 else second, [], f"holder-{i}")
        start.wait()
        won.append(w.take(name))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 5 + [True]


def test_two_workers_never_run_the_same_job_at_once(container, second):
    probe = Probe(f"probe-{time.monotonic_ns()}")
    a = worker(container, [probe.job("a")], "a")
    b = worker(second, [probe.job("b")], "b")
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in (a, b)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert probe.most == 1
    assert sum(probe.runs.values()) > 5
    assert len(probe.runs) == 1  # the lease never lapsed, so its first holder kept it


def test_a_job_held_by_another_worker_is_not_run_by_once(container, second):
    probe = Probe(f"probe-{time.monotonic_ns()}")
    a = worker(container, [probe.job("a")], "a")
    b = worker(second, [probe.job("b")], "b")
    assert a.take(probe.name)
    assert b.run_once() == {probe.name: "held elsewhere"}
    assert probe.runs == Counter()


def test_a_lapsed_lease_is_taken_over(container, second, clock):
    probe = Probe(f"probe-{time.monotonic_ns()}")
    dead = worker(container, [probe.job("dead")], "dead")
    assert dead.take(probe.name)  # ... and then the process dies: no renewal, no release
    live = worker(second, [probe.job("live")], "live")
    clock.advance(seconds=LEASE - 1)
    assert live.run_once() == {probe.name: "held elsewhere"}
    clock.advance(seconds=2)
    assert live.run_once() == {probe.name: "ok"}
    assert probe.runs == Counter({"live": 1})


def test_a_holder_that_lost_its_lease_forgets_it(container, second, clock):
    name = f"lost-{time.monotonic_ns()}"
    slow = worker(container, [], "slow")
    assert slow.take(name)
    clock.advance(seconds=LEASE + 1)
    assert worker(second, [], "other").take(name)
    slow.renew()
    assert name not in slow.holds()
    assert not slow.take(name)


def test_a_renewed_lease_does_not_lapse(container, second, clock):
    name = f"renewed-{time.monotonic_ns()}"
    holder = worker(container, [], "holder")
    other = worker(second, [], "other")
    assert holder.take(name)
    for _ in range(3):
        clock.advance(seconds=LEASE * 2 / 3)
        holder.renew()
        assert not other.take(name)
    assert holder.holds() == {name}


def test_a_worker_that_stops_hands_its_leases_over_at_once(container, second):
    probe = Probe(f"probe-{time.monotonic_ns()}")
    first = worker(container, [probe.job("first")], "first")
    assert first.run_once() == {probe.name: "ok"}
    assert worker(second, [probe.job("next")], "next").run_once() == {probe.name: "ok"}
    assert probe.runs == Counter({"first": 1, "next": 1})


def test_a_failing_job_is_counted_and_the_next_job_still_runs(container):
    probe = Probe(f"probe-{time.monotonic_ns()}")

    def broken() -> dict[str, int]:
        raise RuntimeError("the job broke")

    failing = Job(f"broken-{time.monotonic_ns()}", 0.0, broken)
    w = worker(container, [failing, probe.job("w")], "w")
    assert w.run_once() == {failing.name: "failed", probe.name: "ok"}
    runs = w.metrics.runs
    assert runs.labels(failing.name, "failed")._value.get() == 1
    assert runs.labels(probe.name, "ok")._value.get() == 1


def test_a_lease_is_renewed_while_its_long_job_runs(container, second, clock):
    container.settings = container.settings.model_copy(update={"lease_seconds": 1.0})
    name = f"long-{time.monotonic_ns()}"
    other = worker(second, [], "other")
    stolen = []

    def long_job() -> dict[str, int]:
        for _ in range(3):
            clock.advance(seconds=0.6)  # two of these outlast the lease taken at the start
            time.sleep(1.0)  # meanwhile the holder renews (every third of a second)
            stolen.append(other.take(name))
        return {}

    holder = worker(container, [Job(name, 0.0, long_job)], "long")
    assert holder.run_once() == {name: "ok"}
    assert stolen == [False, False, False]
