"""Resource figures per service: CPU % and memory, sampled from Docker's stats API.

A background thread asks the engine, every `interval` seconds, for one stats snapshot of
each running container of this instance (`one-shot`: one reading, not two). Docker still
answers each with its next per-second sample, so the containers are asked `PARALLEL` at a
time: a reading of 200 takes a few seconds, not 200. CPU % is computed from two of Steward's own
snapshots, the way `docker stats` computes it from Docker's two. The collector has its own
client with a short timeout (like `DockerEngine.logs`), so a slow engine never holds up a
reconcile pass, and it keeps only the last `keep` samples per service, in memory: enough
for a sparkline; the figures are a glance, not a time-series database.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import docker
import requests
from docker.errors import DockerException, NotFound

from app.domain.stats import Sample
from app.engine.options import LABEL_INSTANCE, LABEL_SERVICE
from app.support.worker import Worker

log = logging.getLogger(__name__)

#: Seconds between readings: a glance at the fleet, at well under 1 % of a core for 50.
STATS_INTERVAL = 10.0
#: Containers asked at once (and connections to the engine kept for it).
PARALLEL = 16


@dataclass(frozen=True)
class _Counters:
    container_id: str
    cpu_total: int
    system_total: int


def cpu_percent(before: _Counters | None, raw: dict, container_id: str) -> float | None:
    """The container's share of the host over the span between two readings, in % of one
    core (as `docker stats`: 200 % is two busy cores); None without an earlier reading of
    the same container."""
    cpu = raw.get("cpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    if before is None or before.container_id != container_id or total is None or not system:
        return None
    cores = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage")
                                          or ()) or 1
    system_delta = system - before.system_total
    if system_delta <= 0:
        return None
    return round(max(0, total - before.cpu_total) / system_delta * cores * 100, 2)


def memory_used(raw: dict) -> tuple[int | None, int | None]:
    """(used, limit) in bytes, used without the page cache (as `docker stats` shows it)."""
    memory = raw.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None, memory.get("limit")
    stats = memory.get("stats") or {}
    cache = stats.get("inactive_file", stats.get("total_inactive_file", 0))
    return max(0, usage - cache), memory.get("limit")


def counters_of(raw: dict, container_id: str) -> _Counters | None:
    cpu = raw.get("cpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    return _Counters(container_id, total, system) if total is not None and system else None


class StatsCollector:
    def __init__(self, *, instance: str, base_url: str | None = None, interval: float = STATS_INTERVAL,
                 keep: int = 60, timeout: float = 5.0,
                 clock: Callable[[], datetime]) -> None:
        self.instance = instance
        self.base_url = base_url
        self.interval = interval
        self.keep = keep
        self.timeout = timeout
        self.clock = clock
        self._samples: dict[str, deque[Sample]] = {}
        self._counters: dict[str, _Counters] = {}
        self._lock = threading.Lock()
        self._worker = Worker("steward-stats", self._loop, join_timeout=self.timeout + 1)

    def latest(self, service: str) -> Sample | None:
        with self._lock:
            samples = self._samples.get(service)
            return samples[-1] if samples else None

    def series(self, service: str) -> tuple[Sample, ...]:
        with self._lock:
            return tuple(self._samples.get(service, ()))

    def snapshot(self) -> dict[str, tuple[Sample, ...]]:
        """Every service's samples, oldest first: what the page and /metrics read."""
        with self._lock:
            return {name: tuple(samples) for name, samples in self._samples.items()}

    def record(self, service: str, container_id: str, raw: dict, at: datetime) -> Sample:
        """Turn one raw stats answer into a sample and keep it (the last `keep`)."""
        with self._lock:
            before = self._counters.get(service)
            used, limit = memory_used(raw)
            sample = Sample(at, cpu_percent(before, raw, container_id), used, limit)
            counters = counters_of(raw, container_id)
            if counters is not None:
                self._counters[service] = counters
            self._samples.setdefault(service, deque(maxlen=self.keep)).append(sample)
            return sample

    def forget_others(self, running: set[str]) -> None:
        """A service that stopped or went away keeps no stale figure."""
        with self._lock:
            for gone in set(self._samples) - running:
                del self._samples[gone]
                self._counters.pop(gone, None)

    def collect_once(self) -> int:
        """One reading of every running container of this instance; how many were read.

        Raises nothing: an unreachable engine is the reconciler's to report, and the
        figures simply stop until it answers again.
        """
        try:
            client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout,
                                         max_pool_size=PARALLEL) \
                if self.base_url else docker.from_env(timeout=self.timeout,
                                                      max_pool_size=PARALLEL)
        except (DockerException, requests.RequestException) as err:
            log.debug("stats: no engine: %s", err)
            return 0
        try:
            return self._read_all(client)
        except (DockerException, requests.RequestException) as err:
            log.debug("stats: engine did not answer: %s", err)
            return 0
        finally:
            client.close()

    def _read_all(self, client: docker.DockerClient) -> int:
        listed = client.api.containers(filters={"label": f"{LABEL_INSTANCE}={self.instance}",
                                                "status": "running"})
        wanted = {}
        for container in listed:
            service = (container.get("Labels") or {}).get(LABEL_SERVICE)
            if service and service not in wanted:
                wanted[service] = container["Id"]

        def read(item: tuple[str, str]) -> tuple[str, str, dict | None]:
            try:
                return (*item, client.api.stats(item[1], stream=False, one_shot=True))
            except NotFound:
                return (*item, None)  # gone between the list and the read

        running = set()
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            for service, container_id, raw in pool.map(read, wanted.items()):
                if raw is not None:
                    running.add(service)
                    self.record(service, container_id, raw, self.clock())
        self.forget_others(running)
        return len(running)

    def start(self) -> None:
        self._worker.start()

    def _loop(self) -> None:
        while not self._worker.stopping.is_set():
            try:
                self.collect_once()
            except Exception:  # noqa: BLE001 - an odd answer must not end the figures
                log.exception("stats: reading the containers failed; trying again")
            self._worker.stopping.wait(self.interval)

    def stop(self) -> None:
        self._worker.stop()
