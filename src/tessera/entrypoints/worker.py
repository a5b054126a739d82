"""``tessera worker``: the background jobs, each run only where its lease is held.

Jobs: ``expire`` (vouchers past expiry and grace), ``release-holds`` (lapsed reservations),
``dispatch`` (webhooks that are due), ``batch-recovery`` (batches whose generating process
died), ``seal`` (new EDRs into hash-chained blocks, ``services/edr_seal.py``) and ``purge``
(everything past its retention, ``services/purge.py``).

Run it as often as you like, on as many hosts: before each run a worker takes (or renews)
the job's lease in the database (``leases``: one row per job, its holder and until when), and
a lease is held by one worker at a time. A thread renews the leases every third of
``TESSERA_LEASE_SECONDS`` while jobs run; a worker that dies stops renewing, and another
takes its jobs over once its leases lapse; one that stops cleanly hands them over at once.
A worker that lost a lease mid-run (it could not reach the database for a whole lease)
finishes that run; every job's steps are compare-and-set or idempotent deletes, so the
overlap changes nothing twice. Leases are judged on the workers' clocks, which should agree
within a small part of the lease (NTP).

``tessera serve`` runs these same jobs in a thread of each HTTP worker, but only on the
embedded SQLite default (the leases make that safe with several HTTP workers, too).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from prometheus_client import CollectorRegistry, Counter

from tessera.bootstrap import Container
from tessera.services import edr_seal, expiry, fulfilment, purge
from tessera.services.batches import fail_abandoned_batches

log = structlog.get_logger(__name__)

Counts = dict[str, int]


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runs = Counter(
            "tessera_worker_job_runs_total",
            "Background job runs by job and outcome (ok, failed).",
            ["job", "outcome"],
            registry=registry,
        )
        self.purged = Counter(
            "tessera_purged_rows_total",
            "Rows the purge deleted, by table.",
            ["table"],
            registry=registry,
        )


@dataclass(frozen=True)
class Job:
    name: str
    every: float  # seconds from the end of one run to the start of the next
    run: Callable[[], Counts]  # what the run did, for its log line
    close: Callable[[], None] | None = None


def jobs_for(container: Container, metrics: WorkerMetrics) -> list[Job]:
    """The jobs the settings ask for (an interval of 0 leaves a job out)."""
    s = container.settings
    jobs: list[Job] = []
    if s.sweeper_interval_seconds > 0:

        def expire() -> Counts:
            report = expiry.SweepReport()
            for tenant_id in expiry.tenant_ids(container.directory()):
                report += expiry.expire_vouchers(container.uow(tenant_id))
            return {"expired": report.expired, "closed": report.closed}

        def release_holds() -> Counts:
            released = sum(
                expiry.release_lapsed_holds(container.uow(tenant_id))
                for tenant_id in expiry.tenant_ids(container.directory())
            )
            return {"released": released}

        jobs.append(Job("expire", s.sweeper_interval_seconds, expire))
        if s.fulfilment_timeout_seconds > 0:
            timeout = timedelta(seconds=s.fulfilment_timeout_seconds)

            def time_out_fulfilments() -> Counts:
                timed_out = fulfilment.time_out_all(container.directory, container.uow, timeout)
                return {"timed_out": timed_out}

            jobs.append(
                Job("fulfilment-timeouts", s.sweeper_interval_seconds, time_out_fulfilments)
            )
        jobs.append(Job("release-holds", s.sweeper_interval_seconds, release_holds))
    if s.dispatcher_enabled:
        if container.sealer is None:
            log.warning("TESSERA_LIST_KEY is not set: webhooks will not be delivered")
        else:
            from tessera.services.dispatch import Dispatcher

            dispatcher = Dispatcher(container)

            def dispatch() -> Counts:
                result = dispatcher.run_until_idle()
                return {
                    "delivered": result.delivered,
                    "retrying": result.retrying,
                    "dead": result.dead,
                }

            jobs.append(Job("dispatch", s.dispatch_interval_seconds, dispatch, dispatcher.close))
    if s.batch_recovery_interval_seconds > 0:
        timeout = timedelta(seconds=s.batch_heartbeat_timeout_seconds)

        def recover_batches() -> Counts:
            failed = fail_abandoned_batches(container.directory(), container.uow, timeout)
            return {"failed_batches": len(failed)}

        jobs.append(Job("batch-recovery", s.batch_recovery_interval_seconds, recover_batches))
    if s.seal_interval_seconds > 0:

        def seal() -> Counts:
            report = edr_seal.seal_all(container.directory, container.uow, s.seal_block_size)
            waiting = int(report.waiting)
            return {"blocks": report.blocks, "sealed": report.sealed, "waiting": waiting}

        jobs.append(Job("seal", s.seal_interval_seconds, seal))
    if s.purge_interval_seconds > 0:

        def purge_old() -> Counts:
            report = purge.purge_all(
                container.directory(), container.uow, container.retention, s.purge_batch
            )
            for table, rows in report.rows.items():
                if rows:
                    metrics.purged.labels(table).inc(rows)
            return report.rows

        jobs.append(Job("purge", s.purge_interval_seconds, purge_old))
    return jobs


def _holder_name() -> str:
    """Which process holds a lease: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:150]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        container: Container,
        jobs: list[Job],
        metrics: WorkerMetrics,
        holder: str | None = None,
    ) -> None:
        self.container = container
        self.jobs = jobs
        self.metrics = metrics
        self.holder = holder or _holder_name()
        self.lease = timedelta(seconds=container.settings.lease_seconds)
        self._every_third = container.settings.lease_seconds / 3
        self._held: set[str] = set()
        self._confirmed: dict[str, float] = {}  # job -> when (monotonic) its lease was last ours
        self._lock = threading.Lock()

    # --- leases ---------------------------------------------------------------------------

    def take(self, name: str) -> bool:
        """Take or renew the lease on ``name``; False when another worker holds it (or the
        database cannot be reached: then nobody is sure, so this worker does not run it)."""
        try:
            now = self.container.clock()
            with self.container.directory() as directory:
                taken = directory.leases.take(name, self.holder, now, now + self.lease)
                directory.commit()
        except Exception:
            log.exception("lease not taken", job=name)
            taken = False
        with self._lock:
            if taken:
                self._held.add(name)
                self._confirmed[name] = time.monotonic()
            else:
                self._held.discard(name)
        return taken

    def _surely_held(self, name: str) -> bool:
        """Taken or renewed within the last third of a lease: no need to ask the database
        again before a run (the dispatcher runs every second)."""
        with self._lock:
            confirmed = self._confirmed.get(name) if name in self._held else None
        return confirmed is not None and time.monotonic() - confirmed < self._every_third

    def renew(self) -> None:
        """Extend every lease this worker holds; forget those another worker took."""
        with self._lock:
            names = set(self._held)
        if not names:
            return
        asked = time.monotonic()
        try:
            with self.container.directory() as directory:
                kept = directory.leases.renew(
                    names, self.holder, self.container.clock() + self.lease
                )
                directory.commit()
        except Exception:
            log.exception("leases not renewed", jobs=sorted(names))
            return
        with self._lock:
            self._held &= kept | (self._held - names)
            for name in kept & self._held:
                self._confirmed[name] = max(self._confirmed.get(name, asked), asked)
        for name in sorted(names - kept):
            log.warning("lease lost to another worker", job=name)

    def release(self) -> None:
        """Hand every lease over at once (a clean stop)."""
        with self._lock:
            names, self._held = set(self._held), set()
        if not names:
            return
        try:
            with self.container.directory() as directory:
                directory.leases.release(names, self.holder)
                directory.commit()
        except Exception:  # they lapse by themselves
            log.exception("leases not released", jobs=sorted(names))

    def holds(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def _keep_leases(self, stop: threading.Event) -> threading.Thread:
        """Renews the held leases every third of a lease until ``stop``."""

        def loop() -> None:
            while not stop.wait(self._every_third):
                self.renew()

        thread = threading.Thread(target=loop, name="tessera-leases", daemon=True)
        thread.start()
        return thread

    # --- runs -----------------------------------------------------------------------------

    def run_job(self, job: Job) -> str:
        """One run, counted and logged in one line: "ok" or "failed"."""
        started = time.monotonic()
        try:
            counts = job.run()
        except Exception:
            self.metrics.runs.labels(job.name, "failed").inc()
            log.exception("job failed", job=job.name, seconds=round(time.monotonic() - started, 3))
            return "failed"
        self.metrics.runs.labels(job.name, "ok").inc()
        # A run that changed nothing is said at debug: the dispatcher runs every second.
        say = log.info if any(counts.values()) else log.debug
        say("job ran", job=job.name, seconds=round(time.monotonic() - started, 3), **counts)
        return "ok"

    def run_once(self) -> dict[str, str]:
        """Each job once, where this worker gets its lease, then hand the leases back:
        job -> "ok", "failed" or "held elsewhere" (``tessera worker --once``, cron, tests)."""
        stop = threading.Event()
        keeper = self._keep_leases(stop)
        outcomes = {}
        try:
            for job in self.jobs:
                outcomes[job.name] = self.run_job(job) if self.take(job.name) else "held elsewhere"
        finally:
            stop.set()
            keeper.join()
            self.release()
        return outcomes

    def run(self, stop: threading.Event) -> None:
        """Runs the jobs on their intervals until ``stop`` is set, then hands the leases
        over. A job another worker holds is asked for again every third of a lease."""
        keeper = self._keep_leases(stop)
        due = dict.fromkeys((job.name for job in self.jobs), 0.0)
        retry = self._every_third
        try:
            while not stop.is_set():
                for job in self.jobs:
                    if stop.is_set() or time.monotonic() < due[job.name]:
                        continue
                    if self._surely_held(job.name) or self.take(job.name):
                        self.run_job(job)
                        due[job.name] = time.monotonic() + job.every
                    else:
                        due[job.name] = time.monotonic() + min(job.every, retry)
                if due:
                    stop.wait(max(0.0, min(due.values()) - time.monotonic()))
                else:
                    stop.wait()
        finally:
            stop.set()
            keeper.join()
            self.release()

    def close(self) -> None:
        for job in self.jobs:
            if job.close is not None:
                job.close()


def start_in_process(container: Container, registry: CollectorRegistry) -> Callable[[], None]:
    """The jobs in a thread of this process (``serve`` on SQLite); returns stop."""
    metrics = WorkerMetrics(registry)
    worker = Worker(container, jobs_for(container, metrics), metrics)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="tessera-worker", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        thread.join(timeout=container.settings.webhook_timeout_seconds + 5)
        worker.close()

    return stop_worker
