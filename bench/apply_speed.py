"""How long `steward apply` takes, beside Debian's `docker-compose` 1.29 on the same services
when it is installed (apt-get install docker-compose).

Default mode: N busybox services, from nothing to all running, then a pass with no change.

`--stack`: one 10-service stack written once as Steward YAML and once as a
docker-compose.yml: a `backend` network besides the default one, a `web` image built from a
local context (FROM the busybox test image + a COPY), an `api` that `depends_on` a `db` with
`condition: service_healthy` (a command health check) and reaches it by name, and seven busybox
workers. For each tool: the first apply, a no-change apply, and a rebuild after one file in
the build context changed; medians over `--repeat` runs, each from nothing.

Everything runs on a private SQLite file, desired-state directory, instance label and compose
project, and is removed at the end, also on failure: containers, networks and images by
Steward's instance label, compose's project label and a bench label on built images. Nothing
else on the (shared) dockerd is touched; no port is published.

    .venv/bin/python bench/apply_speed.py [--services 10 50]
    .venv/bin/python bench/apply_speed.py --stack [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.engine.images import build_busybox_image  # noqa: E402
from app.operations.apply import run_apply  # noqa: E402

LABEL = "io.steward.instance"
STEWARD_SERVICE = "io.steward.service"
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
BENCH_LABEL = "io.steward.bench"
SERVE = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p {port} -h /www"
DB_CHECK = ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5432/"]
WORKERS = 7


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


def steward_env(work: Path, instance: str, desired: Path) -> dict[str, str]:
    """A private store, desired-state directory and instance; no server, so apply runs here."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
            "STEWARD_DATABASE_URL": f"sqlite:///{work / f'{instance}.db'}",
            "STEWARD_DESIRED_STATE": str(desired), "STEWARD_INSTANCE": instance,
            "STEWARD_LOG_LEVEL": "WARNING", "STEWARD_SECRET_KEY": "bench",
            "STEWARD_PORT": "1"}


def remove_labelled(client: docker.DockerClient, label: str) -> None:
    """Remove the containers, then networks, then images carrying `label` (key=value)."""
    owned = {"label": label}
    for container in client.containers.list(all=True, filters=owned):
        container.remove(force=True)
    for network in client.networks.list(filters=owned):
        network.remove()
    for image in client.images.list(filters=owned):
        client.images.remove(image.id, force=True)


def bench_steward(work: Path, image: str, count: int) -> dict[str, float]:
    instance = f"bench{uuid.uuid4().hex[:8]}"
    desired = work / instance
    desired.mkdir()
    write_services(desired, image, count)
    env = steward_env(work, instance, desired)
    try:
        first, done = cli(env, "apply", "--wait", "--timeout", "600")
        assert done.returncode == 0, done.stdout + done.stderr
        again, done = cli(env, "apply")
        assert done.returncode == 0 and "changed=0" in done.stdout, done.stdout
        return {"first apply": first, "no-change apply (command)": again,
                "no-change pass": _pass_seconds(env)}
    finally:
        remove_labelled(docker.from_env(), f"{LABEL}={instance}")


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


# -- the 10-service stack ------------------------------------------------------------------


def stack_services(image: str, web_tag: str) -> dict[str, dict[str, Any]]:
    """The stack in the keys Steward and Compose write alike."""
    def busybox(command: list[str]) -> dict[str, Any]:
        return {"image": image, "command": command, "init": True, "stop_grace_period": "1s"}

    reach_db = "wget -q -O /dev/null http://db:5432/ && exec sleep 86400"
    services = {
        "db": {**busybox(["sh", "-c", SERVE.format(port=5432)]),
               "networks": ["default", "backend"]},
        "api": {**busybox(["sh", "-c", reach_db]), "networks": ["default", "backend"],
                "depends_on": {"db": {"condition": "service_healthy"}}},
        "web": {"build": "./web", "image": web_tag, "init": True, "stop_grace_period": "1s"},
    }
    for i in range(WORKERS):
        command = ["sh", "-c", SERVE.format(port=8080)] if i % 2 else ["sleep", "86400"]
        services[f"worker{i}"] = busybox(command)
    return services


def steward_stack(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Steward's file: a category per service and its own health check form."""
    written = {name: {"category": "infrastructure" if name == "db" else "ai", **spec}
               for name, spec in services.items()}
    written["db"]["healthcheck"] = {"command": DB_CHECK, "interval": "1s", "timeout": "2s",
                                    "retries": 3}
    return {"networks": {"backend": None}, "services": written}


def compose_stack(services: dict[str, dict[str, Any]], bench_label: str) -> dict[str, Any]:
    """docker-compose.yml: compose's health check form; the built image carries a label."""
    written = {name: dict(spec) for name, spec in services.items()}
    written["db"]["healthcheck"] = {"test": ["CMD", *DB_CHECK], "interval": "1s",
                                    "timeout": "2s", "retries": 3}
    written["web"]["build"] = {"context": "./web", "labels": {BENCH_LABEL: bench_label}}
    return {"networks": {"backend": None}, "services": written}


def write_context(directory: Path, image: str, text: str) -> None:
    """The build context of `web`: busybox plus one file; `text` keeps other builds' layer
    cache from serving it."""
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(
        f"FROM {image}\nCOPY index.html /www/index.html\n"
        'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')
    (directory / "index.html").write_text(f"{text}\n")


def running(client: docker.DockerClient, label: str, service_label: str) -> dict[str, str]:
    """Service name -> container id of the running containers carrying `label`."""
    return {c.labels[service_label]: c.id
            for c in client.containers.list(filters={"label": label, "status": "running"})}


def check_rebuilt(before: dict[str, str], after: dict[str, str]) -> None:
    """After the rebuild, `web` is a new container and every other one is untouched."""
    assert len(before) == len(after) == 3 + WORKERS, (before, after)
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert changed == ["web"], changed


def stack_steward(work: Path, image: str) -> dict[str, float]:
    instance = f"benchst{uuid.uuid4().hex[:8]}"
    desired = work / instance
    write_context(desired / "web", image, instance)
    (desired / "services.yaml").write_text(yaml.safe_dump(
        steward_stack(stack_services(image, f"{instance}-web:latest")), sort_keys=False))
    env = steward_env(work, instance, desired)
    client = docker.from_env()
    label = f"{LABEL}={instance}"

    def apply(*args: str) -> tuple[float, str]:
        seconds, done = cli(env, "apply", *args)
        assert done.returncode == 0, f"steward apply {' '.join(args)}: exit " \
                                     f"{done.returncode}\n{done.stdout}{done.stderr}"
        return seconds, done.stdout

    try:
        first, _ = apply("--wait", "--timeout", "600")
        before = running(client, label, STEWARD_SERVICE)
        again, out = apply()
        assert "changed=0" in out, out
        pass_alone = _pass_seconds(env)
        (desired / "web" / "index.html").write_text(f"{instance} changed\n")
        rebuild, out = apply("--wait", "--timeout", "600")
        assert "changed=1" in out, out
        check_rebuilt(before, running(client, label, STEWARD_SERVICE))
        return {"first apply": first, "no-change apply": again,
                "no-change pass alone (in-process)": pass_alone,
                "rebuild after a context change": rebuild}
    finally:
        remove_labelled(client, label)


def stack_compose(work: Path, image: str) -> dict[str, float]:
    name = f"benchdc{uuid.uuid4().hex[:8]}"
    project = work / name
    write_context(project / "web", image, name)
    (project / "docker-compose.yml").write_text(yaml.safe_dump(
        compose_stack(stack_services(image, f"{name}-web:latest"), name), sort_keys=False))
    client = docker.from_env()
    label = f"{COMPOSE_PROJECT}={name}"

    def compose(*args: str) -> float:
        start = time.perf_counter()
        done = subprocess.run(["docker-compose", "-p", name, *args], cwd=project,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"docker-compose {' '.join(args)}: exit " \
                                     f"{done.returncode}\n{done.stdout}{done.stderr}"
        return time.perf_counter() - start

    try:
        first = compose("up", "-d")
        before = running(client, label, COMPOSE_SERVICE)
        again_build = compose("up", "-d", "--build")
        again = compose("up", "-d")
        (project / "web" / "index.html").write_text(f"{name} changed\n")
        rebuild = compose("up", "-d", "--build")
        check_rebuilt(before, running(client, label, COMPOSE_SERVICE))
        return {"first apply": first, "no-change apply": again_build,
                "no-change `up -d` without --build": again,
                "rebuild after a context change": rebuild}
    finally:
        subprocess.run(["docker-compose", "-p", name, "down", "--timeout", "1",
                        "--remove-orphans"], cwd=project, capture_output=True)
        remove_labelled(client, label)
        remove_labelled(client, f"{BENCH_LABEL}={name}")


def bench_stack(image: str, repeat: int) -> None:
    """Both tools `repeat` times, alternating which goes first; print the medians."""
    compose = shutil.which("docker-compose") is not None
    runs: dict[str, list[dict[str, float]]] = {"steward": [], "docker-compose": []}
    with tempfile.TemporaryDirectory(prefix="steward-bench-") as tmp:
        for i in range(repeat):
            order = ["steward", "docker-compose"] if i % 2 == 0 else ["docker-compose",
                                                                       "steward"]
            for tool in order:
                if tool == "steward":
                    runs[tool].append(stack_steward(Path(tmp), image))
                elif compose:
                    runs[tool].append(stack_compose(Path(tmp), image))
    print(f"10-service stack, median of {repeat} (seconds)")
    print("| what | steward | docker-compose |\n| --- | --- | --- |")
    for what in dict.fromkeys([*runs["steward"][0], *(runs["docker-compose"] or [{}])[0]]):
        print(f"| {what} | {_median(runs['steward'], what)} "
              f"| {_median(runs['docker-compose'], what)} |")
    if not compose:
        print("docker-compose is not installed; apt-get install docker-compose to compare")


def _median(runs: list[dict[str, float]], what: str) -> str:
    values = [run[what] for run in runs if what in run]
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--stack", action="store_true",
                        help="the 10-service stack with a network, a build and a health gate")
    parser.add_argument("--repeat", type=int, default=3, help="runs of --stack per tool")
    args = parser.parse_args()
    client = docker.from_env()
    image = f"steward-bench-busybox:{uuid.uuid4().hex[:8]}"
    build_busybox_image(client, image, labels={BENCH_LABEL: "1"})
    try:
        if args.stack:
            bench_stack(image, args.repeat)
            return
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
