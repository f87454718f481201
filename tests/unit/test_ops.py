"""Steward's own health and metrics endpoints, on a real database without Docker."""
from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from app.steward import Steward
from app.store.models import RuntimeState

pytestmark = pytest.mark.usefixtures("fleet")


def test_healthz_says_alive(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "alive"}


def test_readyz_needs_the_scheduler_and_only_reports_docker(steward: Steward,
                                                           client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503, "no reconcile job runs in this test app"
    body = answer.get_json()
    assert (body["ready"], body["database"], body["scheduler"]) == (False, "ok", "stopped")
    assert body["docker"]["reachable"] is True
    steward.scheduler.start()
    try:
        assert client.get("/readyz").status_code == 200
    finally:
        steward.scheduler.shutdown()


def test_metrics_show_each_service_status_and_counts(steward: Steward,
                                                    client: FlaskClient) -> None:
    with steward.store.session() as session:
        session.get(RuntimeState, "rtdetr").restart_count = 3
    answer = client.get("/metrics")
    assert answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    assert 'steward_service_status{category="ai",service="rtdetr",status="running"} 1.0' in text
    assert 'steward_service_status{category="ai",service="rtdetr",status="stopped"} 0.0' in text
    assert 'steward_service_restarts_total{category="ai",service="rtdetr"} 3.0' in text
    assert 'steward_service_failure_count{category="ai",service="nemotron"} 0.0' in text
    assert re.search(r'steward_desired_state_info\{digest="[0-9a-f]{64}",dirty="false",'
                     r'revision=""\} 1.0', text)
    for family in ("steward_reconcile_pass_duration_seconds", "steward_reconcile_passes_total",
                   "steward_health_check_duration_seconds", "steward_docker_api_errors_total",
                   "steward_desired_state_load_errors_total",
                   "steward_last_successful_pass_timestamp_seconds"):
        assert f"# TYPE {family.removesuffix('_total')}" in text, family
