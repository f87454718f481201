"""Server time to render the status page (`GET /`) for a fleet of N services.

Builds a temporary SQLite store with N services in mixed states (no Docker needed), a
day and a month of events for their history strips and uptime %, and a full buffer of CPU
and memory samples per service, then renders `/` through the app (Flask's test client:
server time, without the network): with the history cache warm (the usual case: it is
recomputed when an event is added or a minute passes) and cold (an event added before each
render). Also times one service's page and the live feed's refresh with nothing changed,
which runs four times a second.

    .venv/bin/python bench/page_render.py [--services 200] [--runs 200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.store.events import record_event  # noqa: E402
from app.store.models import RuntimeState  # noqa: E402

CATEGORIES = ("infrastructure", "ai", "monitoring")
STATES = ("running", "running", "running", "exited", "running")


def build(work: Path, count: int):
    desired = work / "desired"
    desired.mkdir()
    lines = ["services:"]
    for i in range(count):
        lines += [f"  svc{i:03d}:", f"    display_name: Service number {i}",
                  f"    category: {CATEGORIES[i % 3]}", "    image: example/service:1.0",
                  f'    ports: ["{20000 + i}:8080"]', "    environment: {MODE: fast, API_KEY: x}",
                  "    healthcheck: {http: {path: /health}}"]
    (desired / "services.yaml").write_text("\n".join(lines) + "\n")
    app = create_app({"DATABASE_URL": f"sqlite:///{work / 'bench.db'}", "SECRET_KEY": "bench",
                      "DESIRED_STATE_DIR": str(desired), "INSTANCE": "bench"})
    steward = app.extensions["steward"]
    steward.store.upgrade()
    assert steward.reconciler.load_desired() is None
    started = datetime.now(timezone.utc) - timedelta(hours=5)
    with steward.store.session() as session:
        for i in range(count):
            row = session.get(RuntimeState, f"svc{i:03d}")
            row.container_id, row.started_at = f"{i:064x}", started
            row.container_state = STATES[i % len(STATES)]
            row.health = "healthy" if row.container_state == "running" else None
            row.failure_count, row.restart_count = i % 3, i % 7
            row.last_failure = "exit code 137 (OOM killed)" if i % 3 else None
    add_history(steward, count)
    add_samples(steward, count)
    return app


def add_history(steward, count: int) -> None:
    """A month of events per service: a heal every 7 hours, a backoff wait before every
    third, an operator's stop and start each week, and refused requests in between."""
    now = datetime.now(timezone.utc)
    with steward.store.session() as session:
        for i in range(count):
            name = f"svc{i:03d}"
            for hour in range(i % 7, 30 * 24, 7):
                at = now - timedelta(hours=hour, minutes=i % 60)
                if hour % 3 == 0:
                    record_event(session, service=name, kind="backoff", at=at - timedelta(
                        minutes=2), message="backoff after 1 failure(s); last: exit code 1")
                record_event(session, service=name, kind="start", at=at,
                             message="exit code 137")
                record_event(session, service=name, kind="start-refused", at=at,
                             message="already running")
            for day in range(0, 30, 7):
                at = now - timedelta(days=day, hours=i % 24)
                record_event(session, service=name, kind="stop-requested", at=at,
                             message="stop", actor="bench")
                record_event(session, service=name, kind="start-requested",
                             at=at + timedelta(minutes=20), message="start", actor="bench")


def add_samples(steward, count: int) -> None:
    """A full buffer of CPU and memory samples for every running service."""
    now = datetime.now(timezone.utc)
    for i in range(count):
        if STATES[i % len(STATES)] != "running":
            continue
        for n in range(steward.stats.keep):
            raw = {"cpu_stats": {"cpu_usage": {"total_usage": n * (1000 + i * 10)},
                                 "online_cpus": 2, "system_cpu_usage": n * 20_000},
                   "memory_stats": {"usage": (200 + n % 17) << 20, "limit": 1 << 30}}
            steward.stats.record(f"svc{i:03d}", f"{i:064x}", raw, now)


def timed(action, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def report(what: str, times: list[float]) -> None:
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"{what}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms "
          f"over {len(times)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="steward-bench-") as work:
        app = build(Path(work), args.services)
        client = app.test_client()
        html = client.get("/").get_data()
        print(f"{args.services} services, page {len(html) / 1024:.0f} KiB")
        for _ in range(10):
            client.get("/")
        report("GET / (server time, history cache warm)",
               timed(lambda: client.get("/"), args.runs))
        steward = app.extensions["steward"]

        def render_after_an_event() -> None:
            with steward.store.session() as session:
                record_event(session, service="svc000", kind="start-refused",
                             at=datetime.now(timezone.utc), message="bench")
            client.get("/")

        report("GET / (server time, history recomputed: an event added before each)",
               timed(render_after_an_event, max(10, args.runs // 10)))
        report("GET /services/svc001 (server time, 30 days of history)",
               timed(lambda: client.get("/services/svc001"), max(10, args.runs // 4)))
        report("GET /api/system/services (server time)",
               timed(lambda: client.get("/api/system/services"), args.runs))
        feed = app.extensions["steward_feed"]
        feed.refresh()
        report("live feed refresh, nothing changed", timed(feed.refresh, args.runs))
        app.extensions["steward"].shutdown()


if __name__ == "__main__":
    main()
