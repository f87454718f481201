"""What `/metrics` serves: the process metrics, the fleet read from the store when scraped,
the stats collector's latest samples and this replica's leadership."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.registry import Collector

from app.domain.clock import utcnow
from app.operations.read_model import list_services
from app.status import STATUSES
from app.store.db import Store
from app.store.sync import last_load
from app.telemetry import metrics

if TYPE_CHECKING:
    from app.steward import Steward


class FleetCollector(Collector):
    """Per-service metrics and the revision in force, read from the store when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator:
        status = GaugeMetricFamily("steward_service_status", "1 for the service's current "
                                   "status, 0 for the others",
                                   labels=["service", "category", "status"])
        restarts = CounterMetricFamily("steward_service_restarts", "Restarts of the service",
                                       labels=["service", "category"])
        failures = GaugeMetricFamily("steward_service_failure_count", "Consecutive failures "
                                     "counted toward the failure limit",
                                     labels=["service", "category"])
        revision = InfoMetricFamily("steward_desired_state", "The desired state in force")
        with self.store.reader() as session:
            for service in list_services(session, utcnow()):
                for value in STATUSES:
                    status.add_metric([service.name, service.category, value],
                                      1.0 if service.status == value else 0.0)
                restarts.add_metric([service.name, service.category], service.restart_count)
                failures.add_metric([service.name, service.category], service.failure_count)
            good = last_load(session, ok=True)
        if good is not None:
            revision.add_metric([], {"revision": good.revision or "", "digest": good.digest,
                                     "dirty": str(bool(good.dirty)).lower()})
        yield from (status, restarts, failures, revision)


def registry_for(steward: Steward) -> CollectorRegistry:
    """One registry per app: the process metrics, the fleet, the stats and the leader."""
    registry = CollectorRegistry()
    for metric in metrics.PROCESS_METRICS:
        registry.register(metric)
    registry.register(FleetCollector(steward.store))
    registry.register(metrics.StatsMetrics(steward.stats))
    registry.register(metrics.LeaderMetrics(steward.leadership))
    return registry
