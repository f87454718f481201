"""How a change reaches a running web service: Steward's health-gated rollouts (start-first and
stop-first), beside Debian's `docker-compose` 1.29 `up -d` of the same change, and how a bad
change is rolled back.

The service is busybox httpd answering its `VERSION`, with a command health check (`wget`
every 0.5 s) and `update: {monitor: 2s, deadline: 30s}`. A client asks it every 100 ms
(request, then `sleep 0.1`), with a new connection each time and a 2 s limit per request
(a request without an answer by then counts as failed, "timed out"):

- start-first (no host port): a busybox container on the instance network, by name (`web`);
- stop-first and docker-compose (a port published on 127.0.0.1): a thread on the host.

Steward runs in-process with its background threads (scheduler, Docker event watcher, file
watcher), as `steward serve` runs them, on a private SQLite file, desired-state directory and
instance label. Each change is written to the desired-state file and a pass is requested at
once (as `steward apply` or a push webhook does), so the figures leave out the file
watcher's 1 s poll. The clock starts just before the write (Steward) or just before
`docker-compose up -d` (compose).

Per run, for each tool: deploy `one`, wait until it serves; the good change `two`; then the
bad change (`three`, whose command exits 3). Figures:

- the time until the client first gets the new version, and until the API says `succeeded`;
- the time until the old container serves again after the bad change (stop-first; the old
  container of a start-first rollout never stops serving), and until the API says
  `rolled_back`;
- the failed requests and the client-seen downtime: from the last answer before the first
  failed request to the first answer after the last one, so it includes up to one poll
  interval (about 0.1 s) and the whole wait of a request that timed out;
- for stop-first (and compose) the downtime against the physical floor: the stop
  (the configured grace period, and the measured SIGTERM-to-exit), the start of the new
  container (its `State.StartedAt` against the old one's `State.FinishedAt`, which covers
  rename + create + start), and its first passing health check (the first `State.Health.Log`
  entry with exit code 0, against `State.StartedAt`). The containers are inspected when
  Docker's events say they stopped, started or turned healthy. The published port forwards
  as soon as the new process listens, health check or not, so the client can be served
  before the floor's last part; "stop + start alone" is shown for that.

Medians over `--repeat` runs, alternating which tool goes first. Everything is removed at the
end, also on failure, by id, instance label, compose project label and a bench label; nothing
else on the (shared) dockerd is touched. Run by hand, not in CI:

    .venv/bin/python bench/rollout.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import docker
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.engine.images import build_busybox_image  # noqa: E402

LABEL = "io.steward.instance"
COMPOSE_PROJECT = "com.docker.compose.project"
BENCH_LABEL = "io.steward.bench"
SERVE = "mkdir -p /www && echo $$VERSION > /www/index.html && exec httpd -f -p 8080 -h /www"
BROKEN = "echo cannot start: missing config; exit 3"
CHECK = ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
GRACE = 1.0  # stop_grace_period, seconds
MONITOR = 2.0
POLL = 0.1
#: Seconds a request may take; a longer one is a failed request. busybox's own
#: `wget -T` crashes (busybox-static), so the client wraps wget in busybox `timeout`.
TIMEOUT = 2
CLIENT = (f"while true; do a=$(timeout {TIMEOUT} wget -q -O - http://web:8080/); rc=$?; "
          "if [ $rc = 0 ]; then echo $a; elif [ $rc = 143 ]; then echo '!timeout'; "
          "else echo '!error'; fi; sleep 0.1; done")
#: How long compose's bad change is watched (it has no rollback: the service stays down).
COMPOSE_BAD_WATCH = 10.0

#: (epoch seconds when the request ended, its answer); a failure's answer is `!timeout`
#: (no answer within TIMEOUT seconds) or `!error` (refused, reset, no such name, not 200).
Sample = tuple[float, str]
#: One scenario's figures (seconds and counts) and Steward's reason.
Result = dict[str, Any]


# -- clients ---------------------------------------------------------------------------


class HostClient:
    """Asks http://127.0.0.1:port/ every 100 ms from a thread; no proxy, a new connection
    each time, the same timeout as the container client."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._session = requests.Session()
        self._session.trust_env = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._session.get(self.url, timeout=TIMEOUT,
                                           headers={"Connection": "close"})
                text = answer.text.strip() if answer.ok else "!error"
            except requests.Timeout:
                text = "!timeout"
            except requests.RequestException:
                text = "!error"
            self.samples.append((time.time(), text))
            time.sleep(POLL)

    def answers(self) -> list[Sample]:
        return list(self.samples)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._session.close()


class NetworkClient:
    """A busybox container on `network` asking `web:8080` by name every 100 ms; its log
    lines, timestamped by Docker, are the samples."""

    def __init__(self, client: docker.DockerClient, image: str, network: str,
                 run_label: str) -> None:
        self.container = client.containers.run(
            image, ["sh", "-c", CLIENT], detach=True, network=network,
            labels={BENCH_LABEL: run_label}, name=f"{network}-client-{uuid.uuid4().hex[:6]}")

    def answers(self) -> list[Sample]:
        samples: list[Sample] = []
        for line in self.container.logs(timestamps=True, stderr=False).decode().splitlines():
            stamp, _, text = line.partition(" ")
            text = text.strip()
            samples.append((_epoch(stamp), text or "!error"))
        return samples

    def stop(self) -> None:
        self.container.remove(force=True)


def _epoch(stamp: str) -> float:
    """Docker's RFC 3339 time with nanoseconds (or the zero time) as epoch seconds."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    stamp = stamp.rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return seconds + (float(f"0.{fraction[:9]}") if fraction else 0.0)


# -- what Docker saw ---------------------------------------------------------------------


@dataclass
class Seen:
    """Per container: when it was SIGTERMed (Docker's `kill` event), started, finished, and
    its first passing health check, from `docker inspect` taken when the events came."""

    killed: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    first_healthy: dict[str, float] = field(default_factory=dict)


class Watcher:
    """Docker's container events for one label, in a thread, with an inspect at each one
    that matters."""

    def __init__(self, label: str) -> None:
        self.seen = Seen()
        self._client = docker.from_env()
        self._stream = self._client.events(decode=True, filters={"label": label,
                                                                  "type": "container"})
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._stream:
                action, cid = event.get("Action", ""), event.get("id", "")
                if action == "kill":
                    self.seen.killed.setdefault(cid, event["timeNano"] / 1e9)
                if action in ("start", "die", "health_status: healthy"):
                    self._inspect(cid)
        except Exception:  # noqa: BLE001 - the stream ends when closed
            return

    def _inspect(self, cid: str) -> None:
        try:
            state = self._client.api.inspect_container(cid)["State"]
        except docker.errors.NotFound:
            return
        if _epoch(state.get("StartedAt", "")):
            self.seen.started[cid] = _epoch(state["StartedAt"])
        if not state.get("Running") and _epoch(state.get("FinishedAt", "")):
            self.seen.finished[cid] = _epoch(state["FinishedAt"])
        passing = [_epoch(e["End"]) for e in (state.get("Health") or {}).get("Log") or []
                   if e.get("ExitCode") == 0 and _epoch(e["Start"]) >=
                   self.seen.started.get(cid, 0)]
        if passing and cid not in self.seen.first_healthy:
            self.seen.first_healthy[cid] = min(passing)

    def close(self) -> Seen:
        self._stream.close()
        self._thread.join(timeout=5)
        self._client.close()
        return self.seen


def floor_parts(seen: Seen, old: str, new: str) -> dict[str, float]:
    """Stop-then-start: the parts of the downtime Docker itself needs."""
    parts: dict[str, float] = {}
    if old in seen.finished and old in seen.killed:
        # Docker stamps `kill` after it sent the signal, so a process that exits at once
        # can finish a few milliseconds "before" it: that counts as 0.
        parts["stop (SIGTERM to exit)"] = max(0.0, seen.finished[old] - seen.killed[old])
    if old in seen.finished and new in seen.started:
        parts["start (old exit to new StartedAt)"] = seen.started[new] - seen.finished[old]
    if new in seen.started and new in seen.first_healthy:
        parts["first health check (StartedAt to first pass)"] = \
            seen.first_healthy[new] - seen.started[new]
    if len(parts) == 3:
        start_and_check = parts["start (old exit to new StartedAt)"] + \
            parts["first health check (StartedAt to first pass)"]
        parts["floor with the configured grace"] = GRACE + start_and_check
        parts["floor with the measured stop"] = parts["stop (SIGTERM to exit)"] + \
            start_and_check
        parts["stop + start alone"] = parts["stop (SIGTERM to exit)"] + \
            parts["start (old exit to new StartedAt)"]
    return parts


# -- reading the samples -----------------------------------------------------------------


def outcome(samples: list[Sample], since: float, until: float, new: str | None
            ) -> Result:
    """Failed requests, the downtime they span, and when `new` was first answered."""
    window = [(t, a) for t, a in samples if since <= t <= until]
    failed = [t for t, a in window if a.startswith("!")]
    result: Result = {"requests": len(window), "failed requests": len(failed),
                                "of which timed out": sum(a == "!timeout" for _, a in window)}
    if failed:
        after = [t for t, a in window if not a.startswith("!") and t > failed[-1]]
        before = [t for t, a in samples if not a.startswith("!") and t < failed[0]]
        last_good = before[-1] if before else since
        result["downtime"] = (after[0] if after else until) - last_good
        if after and new is None:
            result["serving again"] = after[0] - since
    else:
        result["downtime"] = 0.0
    if new is not None:
        first = [t for t, a in window if a == new]
        if first:
            result["new version serving"] = first[0] - since
    return result


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def last_answers(client: HostClient | NetworkClient, count: int) -> list[str]:
    return [a for _, a in client.answers()[-count:]]


# -- Steward -------------------------------------------------------------------------------


def steward_file(image: str, version: str, port: int | None, broken: bool = False) -> str:
    service: dict[str, Any] = {
        "category": "infrastructure", "image": image,
        "command": ["sh", "-c", BROKEN if broken else SERVE], "init": True,
        "stop_grace_period": f"{GRACE:g}s", "environment": {"VERSION": version},
        "healthcheck": {"command": CHECK, "interval": "0.5s", "retries": 1},
        "update": {"monitor": f"{MONITOR:g}s", "deadline": "30s"},
    }
    if port is not None:
        service["ports"] = [f"127.0.0.1:{port}:8080"]
    return yaml.safe_dump({"services": {"web": service}}, sort_keys=False)


def bench_steward(work: Path, image: str, run_label: str, published: bool
                  ) -> dict[str, Result]:
    """One Steward: deploy `one`, the good change `two`, the bad change `three`."""
    instance = f"benchro{uuid.uuid4().hex[:8]}"
    desired = work / instance
    desired.mkdir()
    port = free_port() if published else None
    (desired / "services.yaml").write_text(steward_file(image, "one", port))
    docker_client = docker.from_env()
    label = f"{LABEL}={instance}"
    app = steward = watcher = client = None
    expected = "stop-first" if published else "start-first"
    try:
        app = create_app({"DATABASE_URL": f"sqlite:///{work / f'{instance}.db'}",
                          "SECRET_KEY": "bench", "DESIRED_STATE_DIR": str(desired),
                          "INSTANCE": instance, "LOG_LEVEL": "WARNING"})
        steward = app.extensions["steward"]
        steward.store.upgrade()
        steward.reconciler.load_desired()
        api = app.test_client()

        def detail() -> dict:
            return api.get("/api/system/services/web").get_json()

        def rollout() -> dict | None:
            return detail().get("rollout")

        steward.start_background()
        wait(lambda: detail().get("status") == "running", 60, "web to run")
        if published:
            client = HostClient(port)
        else:
            client = NetworkClient(docker_client, image, f"{instance}_default", run_label)
        wait(lambda: last_answers(client, 3) == ["one"] * 3, 30, "the client to get `one`")
        [old] = [c.id for c in docker_client.containers.list(
            filters={"label": [label, "io.steward.service=web"]})]

        watcher = Watcher(label)
        good, api_done = change(steward, desired, steward_file(image, "two", port), rollout,
                                "succeeded")
        wait(lambda: last_answers(client, 3) == ["two"] * 3, 30, "the client to get `two`")
        time.sleep(0.5)
        result = outcome(client.answers(), good, time.time(), "two")
        result["rollout succeeded (API)"] = api_done - good
        seen = watcher.close()
        watcher = None
        shown = detail()["rollout"]
        assert shown["strategy"] == expected, shown
        [new] = [c.id for c in docker_client.containers.list(
            filters={"label": [label, "io.steward.service=web"]})]
        if published:
            result.update(floor_parts(seen, old, new))
        results = {f"steward {expected}: good change": result}

        watcher = Watcher(label)
        bad, api_done = change(steward, desired, steward_file(image, "three", port, True),
                               rollout, "rolled_back")
        wait(lambda: detail().get("status") == "running" and
             last_answers(client, 3) == ["two"] * 3, 30, "the old container to serve again")
        time.sleep(0.5)
        result = outcome(client.answers(), bad, time.time(), None)
        result["rolled back (API)"] = api_done - bad
        watcher.close()
        watcher = None
        left = [c.id for c in docker_client.containers.list(
            all=True, filters={"label": [label, "io.steward.service=web"]})]
        assert left == [new], f"after the rollback: {left}, expected the old {new}"
        result["reason"] = detail()["rollout"].get("reason")
        results[f"steward {expected}: bad change"] = result
        return results
    finally:
        if watcher is not None:
            watcher.close()
        if client is not None:
            client.stop()
        if steward is not None:
            steward.shutdown()
        remove_labelled(docker_client, label)
        remove_labelled(docker_client, f"{BENCH_LABEL}={run_label}", images=False)
        docker_client.close()


def change(steward: Any, desired: Path, text: str, rollout: Callable[[], dict | None],
           final: str) -> tuple[float, float]:
    """Write the change, ask for a pass; (when it was written, when the API said `final`
    of the rollout this change started)."""
    before = (rollout() or {}).get("started_at")
    start = time.time()
    (desired / "services.yaml").write_text(text)
    steward.trigger()

    def done() -> bool:
        now = rollout() or {}
        return now.get("started_at") != before and now.get("state") == final
    wait(done, 60, f"the rollout to be {final}", interval=0.05)
    return start, time.time()


# -- docker-compose --------------------------------------------------------------------------


def compose_file(image: str, version: str, port: int, broken: bool = False) -> str:
    service = {
        "image": image, "command": ["sh", "-c", BROKEN if broken else SERVE], "init": True,
        "stop_grace_period": f"{GRACE:g}s", "environment": {"VERSION": version},
        "healthcheck": {"test": ["CMD", *CHECK], "interval": "500ms", "retries": 1},
        "ports": [f"127.0.0.1:{port}:8080"],
    }
    return yaml.safe_dump({"version": "2.4", "services": {"web": service}}, sort_keys=False)


def bench_compose(work: Path, image: str) -> dict[str, Result]:
    name = f"benchrodc{uuid.uuid4().hex[:8]}"
    project = work / name
    project.mkdir()
    port = free_port()
    docker_client = docker.from_env()
    label = f"{COMPOSE_PROJECT}={name}"
    client = watcher = None

    def compose(text: str) -> None:
        (project / "docker-compose.yml").write_text(text)
        done = subprocess.run(["docker-compose", "-p", name, "up", "-d"], cwd=project,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"docker-compose up -d: exit {done.returncode}\n" \
                                     f"{done.stdout}{done.stderr}"

    def web() -> list[str]:
        return [c.id for c in docker_client.containers.list(
            all=True, filters={"label": [label, "com.docker.compose.service=web"]})]

    try:
        compose(compose_file(image, "one", port))
        client = HostClient(port)
        wait(lambda: last_answers(client, 3) == ["one"] * 3, 30, "compose's `one`")
        [old] = web()
        watcher = Watcher(label)
        good = time.time()
        compose(compose_file(image, "two", port))
        returned = time.time()
        wait(lambda: last_answers(client, 3) == ["two"] * 3, 30, "compose's `two`")
        # Its first health check: the floor's last part (compose does not wait for it).
        wait(lambda: len(web()) == 1 and web()[0] in watcher.seen.first_healthy, 30,
             "compose's new container to be healthy")
        time.sleep(0.5)
        result = outcome(client.answers(), good, time.time(), "two")
        result["`up -d` returned"] = returned - good
        [new] = web()
        result.update(floor_parts(watcher.close(), old, new))
        watcher = None
        results = {"docker-compose up -d: good change": result}

        bad = time.time()
        compose(compose_file(image, "three", port, broken=True))
        returned = time.time()
        time.sleep(COMPOSE_BAD_WATCH)
        result = outcome(client.answers(), bad, time.time(), None)
        result["`up -d` returned"] = returned - bad
        result["reason"] = f"no rollback: still down after {COMPOSE_BAD_WATCH:g}s"
        results["docker-compose up -d: bad change"] = result
        return results
    finally:
        if watcher is not None:
            watcher.close()
        if client is not None:
            client.stop()
        subprocess.run(["docker-compose", "-p", name, "down", "--timeout", "1"], cwd=project,
                       capture_output=True)
        remove_labelled(docker_client, label)
        docker_client.close()


# -- common ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remove_labelled(client: docker.DockerClient, label: str, images: bool = True) -> None:
    """Remove the containers, then networks, then images carrying `label` (key=value)."""
    owned = {"label": label}
    for container in client.containers.list(all=True, filters=owned):
        container.remove(force=True)
    for network in client.networks.list(filters=owned):
        network.remove()
    if images:
        for image in client.images.list(filters=owned):
            client.images.remove(image.id, force=True)


ROWS = [
    ("new version serving", "time to the new version serving (s)"),
    ("rollout succeeded (API)", "time to rollout `succeeded` in the API (s)"),
    ("`up -d` returned", "time for `docker-compose up -d` to return (s)"),
    ("serving again", "time to the old container serving again (s)"),
    ("rolled back (API)", "time to `rolled_back` in the API (s)"),
    ("failed requests", "failed requests"),
    ("of which timed out", f"of which timed out (no answer in {TIMEOUT} s)"),
    ("requests", "requests in the window"),
    ("downtime", "client-seen downtime (s)"),
    ("stop (SIGTERM to exit)", "floor: stop, SIGTERM to exit (s)"),
    ("start (old exit to new StartedAt)", "floor: start, old exit to new StartedAt (s)"),
    ("first health check (StartedAt to first pass)",
     "floor: first passing health check after StartedAt (s)"),
    ("floor with the measured stop", "floor with the measured stop (s)"),
    ("floor with the configured grace", f"floor with the configured {GRACE:g} s grace (s)"),
    ("stop + start alone", "measured stop + start, without the health check (s)"),
]


def report(runs: dict[str, list[Result]]) -> None:
    for scenario, results in runs.items():
        print(f"\n### {scenario} (median of {len(results)}; the runs in brackets)\n")
        print("| figure | median | runs |\n| --- | --- | --- |")
        for key, title in ROWS:
            values = [r[key] for r in results if key in r]
            if not values:
                continue
            if key in ("failed requests", "requests", "of which timed out"):
                print(f"| {title} | {statistics.median(values):g} | "
                      f"{', '.join(f'{v:g}' for v in values)} |")
            else:
                print(f"| {title} | {statistics.median(values):.2f} | "
                      f"{', '.join(f'{v:.2f}' for v in values)} |")
        reasons = sorted({r['reason'] for r in results if r.get('reason')})
        if reasons:
            print(f"\nreason: {'; '.join(reasons)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    client = docker.from_env()
    run_label = uuid.uuid4().hex[:8]
    image = f"steward-bench-busybox:{run_label}"
    build_busybox_image(client, image, labels={BENCH_LABEL: run_label})
    compose = shutil.which("docker-compose") is not None
    runs: dict[str, list[Result]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="steward-bench-") as tmp:
            for i in range(args.repeat):
                tools: list[Callable[[], dict[str, Result]]] = [
                    lambda: bench_steward(Path(tmp), image, run_label, published=False),
                    lambda: bench_steward(Path(tmp), image, run_label, published=True)]
                if compose:
                    tools.append(lambda: bench_compose(Path(tmp), image))
                if i % 2:
                    tools.reverse()
                for tool in tools:
                    for scenario, result in tool().items():
                        runs.setdefault(scenario, []).append(result)
                print(f"run {i + 1} of {args.repeat} done", file=sys.stderr, flush=True)
        order = sorted(runs, key=lambda s: ("bad" in s, s))
        print(f"docker {client.version()['Version']}, {os.cpu_count()} cores; "
              f"health check every 0.5 s, monitor {MONITOR:g} s, stop grace {GRACE:g} s, "
              f"client every {POLL:g} s")
        report({s: runs[s] for s in order})
        if not compose:
            print("\ndocker-compose is not installed; apt-get install docker-compose to "
                  "compare")
    finally:
        remove_labelled(client, f"{BENCH_LABEL}={run_label}")
        client.close()


if __name__ == "__main__":
    main()
