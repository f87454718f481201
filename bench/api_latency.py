"""`GET /api/system/services` with 200 services in the store, served by `steward serve`
(waitress, as docs/production.md recommends): median and p99 latency, and requests per second.

The services are declared `enabled: false`, so the bench needs no images and starts no
containers; the request does the same work whatever the statuses are. Traffic goes only
to 127.0.0.1. Everything lives in a temporary directory and is removed at the end.

    .venv/bin/python bench/api_latency.py [--services 200] [--requests 2000] [--clients 4]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def write_services(directory: Path, count: int) -> None:
    categories = ("infrastructure", "ai", "monitoring")
    lines = ["services:"]
    for i in range(count):
        lines += [f"  svc{i:03d}:", f"    display_name: Service number {i}",
                  f"    category: {categories[i % 3]}", "    image: example/service:1.0",
                  f'    ports: ["{20000 + i}:8080"]', "    enabled: false"]
    (directory / "services.yaml").write_text("\n".join(lines) + "\n")


def run_clients(url: str, total: int, clients: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(count: int) -> None:
        with requests.Session() as session:
            for _ in range(count):
                start = time.perf_counter()
                answer = session.get(url, timeout=10)
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors[0] += answer.status_code != 200

    threads = [threading.Thread(target=client, args=(total // clients,)) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(latencies), time.perf_counter() - started, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="steward-bench-") as tmp:
        work = Path(tmp)
        (work / "desired").mkdir()
        write_services(work / "desired", args.services)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
               "STEWARD_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
               "STEWARD_DESIRED_STATE": str(work / "desired"),
               "STEWARD_INSTANCE": f"bench{uuid.uuid4().hex[:8]}",
               "STEWARD_SECRET_KEY": "bench", "STEWARD_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/api/system/services"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if len(requests.get(url, timeout=2).json()["services"]) == args.services:
                        break
                except (requests.RequestException, ValueError, KeyError):
                    pass
                time.sleep(0.2)
            run_clients(url, 200, 1)  # warm up
            single, _, _ = run_clients(url, args.requests // 2, 1)
            loaded, seconds, errors = run_clients(url, args.requests, args.clients)
            p99 = loaded[int(0.99 * (len(loaded) - 1))]
            print(f"{args.services} services, one client: median "
                  f"{statistics.median(single):.2f} ms, p99 "
                  f"{single[int(0.99 * (len(single) - 1))]:.2f} ms")
            print(f"{args.clients} clients: median {statistics.median(loaded):.2f} ms, p99 "
                  f"{p99:.2f} ms, {len(loaded) / seconds:.0f} requests/s, {errors} errors")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
