"""How long `steward apply` takes: from nothing to all running, and a pass with no change,
for N busybox services; beside `docker-compose up -d` for the same services when Debian's
`docker-compose` is installed (apt-get install docker-compose).

Everything runs on a private SQLite file, desired-state directory and instance label, and
is removed at the end (containers, the compose project, the image).

    .venv/bin/python bench/apply_speed.py [--services 10 50]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.apply import run_apply  # noqa: E402
from app.engine.images import build_busybox_image  # noqa: E402

LABEL = "io.steward.instance"


def write_services(directory: Path, image: str, count: int) -> None:
    lines = ["services:"]
    for i in range(count):
        lines += [f"  svc{i:03d}:", "    category: ai", f"    image: {image}", "    init: true",
                  '    command: ["sleep", "86400"]', "    stop_grace_period: 1s"]
    (directory / "services.yaml").write_text("\n".join(lines) + "\n")


def write_compose(directory: Path, image: str, count: int) -> None:
    lines = ["services:"]
    for i in range(count):
        lines += [f"  svc{i:03d}:", f"    image: {image}", "    init: true",
                  '    command: ["sleep", "86400"]', "    stop_grace_period: 1s"]
    (directory / "docker-compose.yml").write_text("\n".join(lines) + "\n")


def cli(env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    return time.perf_counter() - start, done


def bench_steward(work: Path, image: str, count: int) -> dict[str, float]:
    instance = f"bench{uuid.uuid4().hex[:8]}"
    desired = work / f"steward-{count}"
    desired.mkdir()
    write_services(desired, image, count)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
           "STEWARD_DATABASE_URL": f"sqlite:///{work / f'steward-{count}.db'}",
           "STEWARD_DESIRED_STATE": str(desired), "STEWARD_INSTANCE": instance,
           "STEWARD_LOG_LEVEL": "WARNING", "STEWARD_SECRET_KEY": "bench",
           "STEWARD_PORT": "1"}  # no server there: apply runs in-process
    try:
        first, done = cli(env, "apply", "--wait", "--timeout", "600")
        assert done.returncode == 0, done.stdout + done.stderr
        again, done = cli(env, "apply")
        assert done.returncode == 0 and "changed=0" in done.stdout, done.stdout
        return {"first apply": first, "no-change apply (command)": again,
                "no-change pass": _pass_seconds(env)}
    finally:
        client = docker.from_env()
        for container in client.containers.list(all=True,
                                                filters={"label": f"{LABEL}={instance}"}):
            container.remove(force=True)


def _pass_seconds(env: dict) -> float:
    """The pass alone, in-process, without the command's start-up; median of 5."""
    app = create_app({"DATABASE_URL": env["STEWARD_DATABASE_URL"], "SECRET_KEY": "bench",
                      "DESIRED_STATE_DIR": env["STEWARD_DESIRED_STATE"],
                      "INSTANCE": env["STEWARD_INSTANCE"]})
    steward = app.extensions["steward"]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        outcome = run_apply(steward, actor="bench")
        times.append(time.perf_counter() - start)
        assert outcome.recap.counts()["changed"] == 0, outcome.render()
    steward.shutdown()
    return sorted(times)[2]


def bench_compose(work: Path, image: str, count: int) -> dict[str, float] | None:
    if shutil.which("docker-compose") is None:
        return None
    project = work / f"compose-{count}"
    project.mkdir()
    write_compose(project, image, count)
    name = f"bench{uuid.uuid4().hex[:8]}"

    def compose(*args: str) -> float:
        start = time.perf_counter()
        subprocess.run(["docker-compose", "-p", name, *args], cwd=project, check=True,
                       capture_output=True)
        return time.perf_counter() - start

    try:
        return {"first apply": compose("up", "-d"),
                "no-change apply (command)": compose("up", "-d")}
    finally:
        compose("down", "--timeout", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()
    client = docker.from_env()
    image = f"steward-bench-busybox:{uuid.uuid4().hex[:8]}"
    build_busybox_image(client, image, labels={"io.steward.bench": "1"})
    try:
        with tempfile.TemporaryDirectory(prefix="steward-bench-") as tmp:
            for count in args.services:
                steward = bench_steward(Path(tmp), image, count)
                compose = bench_compose(Path(tmp), image, count)
                for what, seconds in steward.items():
                    beside = f", docker-compose {compose[what]:.2f}s" \
                        if compose and what in compose else ""
                    print(f"N={count:3d} {what}: steward {seconds:.2f}s{beside}")
                if compose is None:
                    print("docker-compose is not installed; apt-get install docker-compose "
                          "to compare")
    finally:
        client.images.remove(image, force=True)


if __name__ == "__main__":
    main()
