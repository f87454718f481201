"""The stats read model: CPU % from two of Steward's own readings, memory without the page
cache, a bounded history per service, the API's `stats` field and /metrics."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask.testing import FlaskClient

from app.engine.stats import StatsCollector, cpu_percent, memory_used
from app.steward import Steward
from app.web.view import sparkline

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def raw(cpu_total: int, system_total: int, usage: int = 300 << 20, cache: int = 100 << 20,
        limit: int = 1 << 30, cores: int = 2) -> dict:
    return {"cpu_stats": {"cpu_usage": {"total_usage": cpu_total}, "online_cpus": cores,
                          "system_cpu_usage": system_total},
            "memory_stats": {"usage": usage, "limit": limit,
                             "stats": {"total_inactive_file": cache}}}


def collector(keep: int = 3) -> StatsCollector:
    return StatsCollector(instance="t", keep=keep, clock=lambda: NOW)


def test_cpu_is_the_share_of_the_host_between_two_readings_in_cores() -> None:
    stats = collector()
    first = stats.record("web", "c1", raw(1_000, 10_000), NOW)
    assert first.cpu_percent is None, "one reading says nothing about a rate"
    second = stats.record("web", "c1", raw(1_500, 12_000), NOW + timedelta(seconds=10))
    assert second.cpu_percent == 50.0  # 500 of 2000 host ticks, on 2 cores: half a core
    assert (second.memory_bytes, second.memory_limit_bytes) == (200 << 20, 1 << 30)


def test_a_new_container_starts_its_rate_afresh() -> None:
    stats = collector()
    stats.record("web", "c1", raw(1_000, 10_000), NOW)
    assert stats.record("web", "c2", raw(50, 12_000), NOW).cpu_percent is None


def test_odd_answers_give_no_figure_rather_than_a_wrong_one() -> None:
    assert cpu_percent(None, {}, "c1") is None
    assert memory_used({"memory_stats": {}}) == (None, None)
    assert memory_used({"memory_stats": {"usage": 10, "stats": {"inactive_file": 4}}}) == (6, None)


def test_samples_are_kept_briefly_and_stopped_services_forgotten() -> None:
    stats = collector(keep=3)
    for second in range(5):
        stats.record("web", "c1", raw(second * 100, 10_000 + second * 1000), NOW)
    stats.record("db", "c9", raw(1, 1), NOW)
    assert len(stats.series("web")) == 3
    stats.forget_others({"web"})
    assert stats.latest("db") is None and set(stats.snapshot()) == {"web"}


def test_the_detail_answer_and_metrics_carry_the_latest_sample(
        fleet: Steward, client: FlaskClient) -> None:  # noqa: F811
    assert client.get("/api/system/services/postgres").get_json()["stats"] is None
    fleet.stats.record("postgres", "c1", raw(1_000, 10_000), NOW)
    fleet.stats.record("postgres", "c1", raw(1_200, 11_000), NOW + timedelta(seconds=10))
    body = client.get("/api/system/services/postgres").get_json()
    assert body["stats"] == {"cpu_percent": 40.0, "memory_bytes": 200 << 20,
                             "memory_limit_bytes": 1 << 30, "sampled_at": "2026-11-30T12:00:10Z"}
    listed = client.get("/api/system/services").get_json()["services"][0]
    assert "stats" not in listed, "the contract's list stays as it is"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'steward_service_cpu_percent{service="postgres"} 40.0' in metrics
    assert 'steward_service_memory_bytes{service="postgres"} 2.097152e+08' in metrics


def test_the_page_shows_figures_and_a_sparkline(fleet: Steward, client: FlaskClient) -> None:  # noqa: F811
    for second, total in enumerate((1_000, 1_300, 1_500)):
        fleet.stats.record("postgres", "c1", raw(total, 10_000 + second * 1000),
                           NOW + timedelta(seconds=10 * second))
    html = client.get("/").get_data(as_text=True)
    assert "40.0 % CPU" in html and "200.0 MiB mem" in html and 'title="limit 1.0 GiB"' in html
    assert "200.0 MiB mem / 1.0 GiB" in client.get("/services/postgres").get_data(as_text=True)
    assert '<polyline points="' in html


def test_a_sparkline_needs_two_points_and_fits_its_box() -> None:
    assert sparkline([None, 5.0]) == ""
    assert sparkline([0.0, 50.0, 100.0]) == "0,15 14.5,8 29,1", "spans the box"
    assert len(sparkline([float(n) for n in range(100)]).split()) == 30, "the last 30 only"
