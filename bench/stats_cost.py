"""CPU cost of the stats collector (app/engine/stats.py) at N running containers.

Starts N busybox containers (`sleep`, no network, labelled with a bench instance of its
own) on the local dockerd, runs the collector's reading of all of them `--rounds` times,
and reports Steward's own CPU time per reading (this process's, which does nothing else
meanwhile) as a share of one core at the default interval. dockerd's
CPU over the same readings is shown beside it, from /proc, when it can be read (the
daemon may be busy with other work meanwhile: take it as an upper bound). Every
container and the image are removed at the end, however the run ends.

    .venv/bin/python bench/stats_cost.py [--containers 50 200] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.images import build_busybox_image  # noqa: E402
from app.engine.options import LABEL_INSTANCE, LABEL_SERVICE  # noqa: E402
from app.engine.stats import STATS_INTERVAL, StatsCollector  # noqa: E402

BENCH_LABEL = "io.steward.bench"


def dockerd_cpu_seconds() -> float | None:
    """dockerd's user + system CPU so far, or None if its /proc entry is not readable."""
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit() or Path(f"/proc/{pid}/comm").read_text().strip() != "dockerd":
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return None


def measure(client: docker.DockerClient, image: str, count: int, rounds: int) -> None:
    instance = f"bench{uuid.uuid4().hex[:8]}"
    try:
        for i in range(count):
            client.containers.run(image, ["sleep", "3600"], detach=True, network_mode="none",
                                  name=f"{instance}-{i}", labels={
                                      LABEL_INSTANCE: instance, LABEL_SERVICE: f"svc{i:03d}",
                                      BENCH_LABEL: "1"})
        collector = StatsCollector(instance=instance,
                                   clock=lambda: datetime.now(timezone.utc))
        assert collector.collect_once() == count, "every container read"
        own, daemon, wall = [], [], []
        for _ in range(rounds):
            before, daemon_before, start = time.process_time(), dockerd_cpu_seconds(), \
                time.perf_counter()
            collector.collect_once()
            own.append(time.process_time() - before)
            wall.append(time.perf_counter() - start)
            if daemon_before is not None:
                daemon.append(dockerd_cpu_seconds() - daemon_before)
        cost = statistics.median(own)
        print(f"{count} containers: Steward {cost * 1000:.0f} ms CPU per reading = "
              f"{100 * cost / STATS_INTERVAL:.2f} % of one core at one reading every "
              f"{STATS_INTERVAL:g} s (a reading takes {statistics.median(wall):.2f} s)")
        if daemon:
            print(f"{'':>{len(str(count)) + 12}}dockerd {statistics.median(daemon) * 1000:.0f} "
                  f"ms CPU per reading = {100 * statistics.median(daemon) / STATS_INTERVAL:.1f} "
                  "% of one core (shared daemon: an upper bound)")
    finally:
        for container in client.containers.list(all=True,
                                                filters={"label": f"{LABEL_INSTANCE}={instance}"}):
            container.remove(force=True)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up on `timeout` too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    client = docker.from_env()
    image = f"steward-bench-busybox:{uuid.uuid4().hex[:8]}"
    build_busybox_image(client, image, labels={BENCH_LABEL: "1"})
    try:
        for count in args.containers:
            measure(client, image, count, args.rounds)
    finally:
        client.images.remove(image, force=True)
        client.close()


if __name__ == "__main__":
    main()
