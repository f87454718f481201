"""How quickly the `steward` command answers: `--help`, `validate`, and a no-change `apply`
through a running server, beside docker-compose's no-change `up -d` on the same services
(Debian's docker-compose 1.29: apt-get install docker-compose).

A real `steward serve` runs in a subprocess on a free port on 127.0.0.1 with N sleeping busybox
services (default 50); once all run, each command is timed `--repeat` times (wall clock around
the subprocess, start-up included) and the median is printed beside the target. For a Steward
command over its target, `python -X importtime` names the imports that cost most.

Everything runs on a private SQLite file, desired-state directory, instance label and compose
project, and is removed at the end, also on failure: the server (by its PID), then containers,
networks and images by Steward's instance label, compose's project label and a bench label on
the busybox image. Nothing else on the (shared) dockerd is touched; no port is published.

    .venv/bin/python bench/cli_speed.py [--services 50] [--repeat 10]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.images import build_busybox_image  # noqa: E402
from bench.apply_speed import (BENCH_LABEL, COMPOSE_PROJECT, LABEL,  # noqa: E402
                               remove_labelled, write_compose, write_services)

TARGETS = {"steward --help": 0.3, "steward apply --url (no change)": 0.3}
ENTRY = Path(sys.executable).parent / "steward"


def steward_command() -> list[str]:
    """The console script a user runs, or `python -m app` when it is not installed."""
    return [str(ENTRY)] if ENTRY.is_file() else [sys.executable, "-m", "app"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(work: Path, instance: str, desired: Path, port: int) -> dict[str, str]:
    """As tests/integration/conftest.py's LiveServer: a private store, directory and instance."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
            "STEWARD_DATABASE_URL": f"sqlite:///{work / f'{instance}.db'}",
            "STEWARD_DESIRED_STATE": str(desired), "STEWARD_INSTANCE": instance,
            "STEWARD_RECONCILE_INTERVAL": "5", "STEWARD_SECRET_KEY": "bench",
            "STEWARD_LOG_LEVEL": "WARNING", "STEWARD_PORT": str(port)}


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not within {timeout:.0f}s")


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        process = subprocess.Popen([*steward_command(), "serve", "--port", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"steward serve exited:\n{log.read_text()[-3000:]}")
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    wait_for(ready, 60, f"steward serve on port {port}")
    return process


def stop_server(process: subprocess.Popen | None) -> None:
    """SIGTERM the server this bench started (by its PID), SIGKILL if it does not end."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def all_running(client: docker.DockerClient, label: str, count: int) -> bool:
    return len(client.containers.list(filters={"label": label, "status": "running"})) == count


def timed(argv: list[str], env: dict, cwd: Path, repeat: int,
          expect: str | None = None) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, f"{' '.join(argv)}: exit {done.returncode}\n" \
                                     f"{done.stdout}{done.stderr}"
        assert expect is None or expect in done.stdout + done.stderr, done.stdout + done.stderr
    return times


def round_trips(port: int, repeat: int) -> dict[str, list[float]]:
    """What `apply --url` asks the server, without the command's start-up: one POST
    /api/system/apply (one no-change pass), sent from this process."""
    url = f"http://127.0.0.1:{port}/api/system"
    apply = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = requests.post(f"{url}/apply", json={"wait": False, "timeout": 120.0},
                               timeout=300)
        apply.append(time.perf_counter() - start)
        assert answer.ok and answer.json()["result"] == "ok", answer.text
    return {"its POST /api/system/apply alone (from this process)": apply}


def server_profile(port: int, pid: int, seconds: int = 8, count: int = 15) -> list[str]:
    """Where the server spends a no-change apply: py-spy (when installed) samples it while
    applies run back to back; the functions seen most often, with their share."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return ["(py-spy is not installed: pip install py-spy)"]
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    sampler = subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(seconds), "-f", "raw",
                                "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        round_trips(port, 1)
    sampler.wait(timeout=60)
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = [f for f in stack.split(";") if "app/" in f and "site-packages" not in f]
        total += int(samples)
        for frame in set(frames):
            own[frame] = own.get(frame, 0) + int(samples)
    shutil.rmtree(out.parent, ignore_errors=True)
    ranked = sorted(own.items(), key=lambda item: -item[1])[:count]
    return [f"{100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in ranked]


def top_imports(args: list[str], env: dict, count: int = 10) -> list[tuple[float, str]]:
    """The top-level imports of `python -X importtime -m app ARGS` by cumulative seconds."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "app", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    found = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and not match.group(2):  # indent 0: imported by the command itself
            found.append((int(match.group(1)) / 1e6, match.group(3)))
    return sorted(found, reverse=True)[:count]


def bench(work: Path, image: str, count: int, repeat: int, profile: bool = False) -> None:
    client = docker.from_env()
    instance = f"benchcli{uuid.uuid4().hex[:8]}"
    desired = work / instance
    desired.mkdir()
    write_services(desired, image, count)
    compose_dir = work / "compose"
    compose_dir.mkdir()
    write_compose(compose_dir, image, count)
    project = f"benchcli{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = server_env(work, instance, desired, port)
    label = f"{LABEL}={instance}"
    server = None
    compose_up = ["docker-compose", "-p", project, "up", "-d"]
    have_compose = shutil.which("docker-compose") is not None
    try:
        server = start_server(env, port, work / "server.log")
        wait_for(lambda: all_running(client, label, count), 600, f"{count} Steward services")
        if have_compose:
            subprocess.run(compose_up, cwd=compose_dir, check=True, capture_output=True)
        steward = steward_command()
        apply = [*steward, "apply", "--url", f"http://127.0.0.1:{port}"]
        # The first applies report the server's own start-up passes as changes; time from
        # the first one that finds nothing to do.
        wait_for(lambda: "changed=0" in subprocess.run(apply, env=env, capture_output=True,
                                                       text=True).stdout, 120, "a quiet apply")
        runs = {
            "python -c pass (the interpreter alone)": timed([sys.executable, "-c", "pass"],
                                                            env, ROOT, repeat),
            "steward --help": timed([*steward, "--help"], env, ROOT, repeat),
            "steward validate": timed([*steward, "validate", str(desired)], env, ROOT, repeat),
            "steward apply --url (no change)": timed(apply, env, ROOT, repeat,
                                                     expect="changed=0"),
        }
        runs.update(round_trips(port, repeat))
        if profile:
            print("\n".join(["server time of a no-change apply, by function (py-spy, "
                              "cumulative share of samples):", *server_profile(port, server.pid)]))
        if have_compose:
            runs["docker-compose up -d (no change)"] = timed(compose_up, env, compose_dir,
                                                             repeat, expect="up-to-date")
        report(runs, count, repeat, env)
    finally:
        stop_server(server)
        if have_compose:
            subprocess.run(["docker-compose", "-p", project, "down", "--timeout", "1",
                            "--remove-orphans"], cwd=compose_dir, capture_output=True)
        remove_labelled(client, label)
        remove_labelled(client, f"{COMPOSE_PROJECT}={project}")


def report(runs: dict[str, list[float]], count: int, repeat: int, env: dict) -> None:
    print(f"{count} services, median of {repeat} (seconds); load {os.getloadavg()[0]:.2f}")
    print("| command | median | min | max | target |\n| --- | --- | --- | --- | --- |")
    for what, times in runs.items():
        target = f"< {TARGETS[what]}" if what in TARGETS else "-"
        print(f"| {what} | {statistics.median(times):.3f} | {min(times):.3f} "
              f"| {max(times):.3f} | {target} |")
    commands = {"steward --help": ["--help"],
                "steward apply --url (no change)": ["apply", "--url",
                                                    f"http://127.0.0.1:{env['STEWARD_PORT']}"]}
    for what, target in TARGETS.items():
        if statistics.median(runs[what]) > target:
            print(f"\n{what} is over {target}s; top imports (python -X importtime, cumulative):")
            for seconds, module in top_imports(commands[what], env):
                print(f"  {seconds:.3f}s {module}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--profile", action="store_true",
                        help="also sample the server with py-spy during applies")
    args = parser.parse_args()
    client = docker.from_env()
    image = f"steward-bench-busybox:{uuid.uuid4().hex[:8]}"
    build_busybox_image(client, image, labels={BENCH_LABEL: "1"})
    try:
        with tempfile.TemporaryDirectory(prefix="steward-bench-") as tmp:
            bench(Path(tmp), image, args.services, args.repeat, args.profile)
    finally:
        client.images.remove(image, force=True)


if __name__ == "__main__":
    main()
