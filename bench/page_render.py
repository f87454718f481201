"""Server time to render the status page (`GET /`) for a fleet of N services.

Builds a temporary SQLite store with N services in mixed states (no Docker needed), then
renders `/` through the app (Flask's test client: server time, without the network) and
times the live feed's refresh with nothing changed, which runs four times a second.

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
    return app


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
        report("GET / (server time)", timed(lambda: client.get("/"), args.runs))
        report("GET /api/system/services (server time)",
               timed(lambda: client.get("/api/system/services"), args.runs))
        feed = app.extensions["steward_feed"]
        feed.refresh()
        report("live feed refresh, nothing changed", timed(feed.refresh, args.runs))
        app.extensions["steward"].shutdown()


if __name__ == "__main__":
    main()
