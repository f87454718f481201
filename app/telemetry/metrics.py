"""What Steward does, counted where it happens: pass durations and outcomes, health check
durations, Docker API errors, rejected loads, failures. Defined once here, outside any
registry; each app's `/metrics` registry (`app/ops.py`) adds them beside the fleet's
metrics, which it reads from the store when scraped.
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

PASS_DURATION = Histogram(
    "steward_reconcile_pass_duration_seconds", "Time one reconcile pass took",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=None)
PASSES = Counter("steward_reconcile_passes", "Reconcile passes by outcome "
                 "(ok, changed, failed, engine_unavailable, error)", ["outcome"], registry=None)
LAST_SUCCESS = Gauge("steward_last_successful_pass_timestamp_seconds",
                     "When the last pass that reached Docker ended (Unix time)", registry=None)
PROBE_DURATION = Histogram(
    "steward_health_check_duration_seconds", "Time one http or tcp health probe took",
    ["kind"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None)
DOCKER_ERRORS = Counter("steward_docker_api_errors", "Docker API calls that failed, by kind "
                        "(refused: the engine said no; unreachable)", ["kind"], registry=None)
LOAD_ERRORS = Counter("steward_desired_state_load_errors",
                      "Loads of the desired-state files that were rejected", registry=None)
FAILURES = Counter("steward_service_failures", "Failures healed or given up on (restarts "
                   "that count, flapping, disables at the limit) since Steward started",
                   ["service"], registry=None)
STORE_ERRORS = Counter("steward_store_errors", "Database operations that failed, by kind "
                       "(read-only, full, unreachable, error)", ["kind"], registry=None)

PROCESS_METRICS = (PASS_DURATION, PASSES, LAST_SUCCESS, PROBE_DURATION, DOCKER_ERRORS,
                    LOAD_ERRORS, FAILURES, STORE_ERRORS)


def stats_families(snapshot: dict) -> tuple:
    """Gauges of each service's latest CPU and memory sample (`app/engine/stats.py`), built
    when scraped: a service that stopped simply drops out."""
    cpu = GaugeMetricFamily("steward_service_cpu_percent", "CPU use between the last two "
                            "samples, in % of one core", labels=["service"])
    memory = GaugeMetricFamily("steward_service_memory_bytes", "Memory in use, without the "
                               "page cache", labels=["service"])
    limit = GaugeMetricFamily("steward_service_memory_limit_bytes", "The container's memory "
                              "limit", labels=["service"])
    for name, samples in sorted(snapshot.items()):
        latest = samples[-1]
        if latest.cpu_percent is not None:
            cpu.add_metric([name], latest.cpu_percent)
        if latest.memory_bytes is not None:
            memory.add_metric([name], latest.memory_bytes)
        if latest.memory_limit_bytes is not None:
            limit.add_metric([name], latest.memory_limit_bytes)
    return cpu, memory, limit


class StatsMetrics:
    """A Prometheus collector of the stats collector's latest samples."""

    def __init__(self, stats) -> None:
        self.stats = stats

    def collect(self) -> tuple:
        return stats_families(self.stats.snapshot())


class LeaderMetrics:
    """`steward_leader{instance}`: 1 on the replica that holds the lease, 0 on the others
    (`app/leadership/lease.py`); `instance` names the replica."""

    def __init__(self, leadership) -> None:
        self.leadership = leadership

    def collect(self) -> tuple:
        family = GaugeMetricFamily("steward_leader", "1 if this replica holds the leader's "
                                   "lease and acts on the engine, else 0",
                                   labels=["instance"])
        family.add_metric([self.leadership.holder], 1.0 if self.leadership.held else 0.0)
        return (family,)
