"""Steward on a three-node Docker Swarm built on this one machine: how long Swarm takes to
replace a dead worker's task, what Steward's API shows meanwhile, how soon a new Steward
leader acts on the swarm, and whether anything ran twice.

Each node is a private dockerd in a network namespace of its own (`ip netns add`), its
`eth0` one end of a veth pair whose other end is a port of a Linux bridge in a fourth
namespace, the switch. Not in the host's namespace: there bridged frames go through the
host's iptables FORWARD chain (bridge-nf-call-iptables is 1 and Docker's FORWARD policy is
DROP), so the nodes could not reach each other (`swarm join` timed out); the switch's
namespace has an empty firewall, and the host gains no link or route. Node links are
10.215.0.1x/24, each node's default bridge 10.215.1x.1/24 and its docker_gwbridge
10.215.2x.0/24 (inside the namespaces only), overlays come from 10.216.0.0/16. dockerd runs under
`ip netns exec`, whose fresh /sys hides the cgroup hierarchies: they are mounted again in
that private mount namespace first. The busybox image is built on the host's dockerd and
loaded into each node (`docker save | docker -H <node> load`).

Two `steward serve` replicas (STEWARD_ENGINE=swarm, DOCKER_HOST the manager's socket, 1 s
reconcile interval) share a fresh PostgreSQL database (scripts/ensure-postgres.sh). The
service is busybox `sleep <marker>` with `replicas: 3`, one task per node. Then:

- a worker lost, twice: SIGKILL of worker 1's dockerd (its containerd dies with it, its
  task's container does not), then worker 2's link down (a partition). Times, from the
  cut, until the manager marks the node down, until Swarm runs 3 tasks on the other nodes
  and until the API shows `running` `3/3` again, and the API's status and replicas over
  time; then, from the heal (dockerd started again, link up), until the node is ready and
  its old task has stopped.
- failover, `--rounds` times: SIGKILL of the leading replica, then one more replica asked
  in the desired state. Times until the other replica leads (/readyz) and until the
  manager's service has the new count (the new leader acted). The killed replica is started
  again as the follower.
- twice: service writes in the manager's event stream, tasks Swarm created, `sleep <marker>`
  processes on the machine and Steward's events, against what was asked.

The host's links and routes (tests.dockerd.host_network) are compared before and after;
any change fails the run. Run as root, holding the integration lock (the image is built
on the host's dockerd):

    flock /tmp/steward-integration.lock \
        .venv/bin/python bench/swarm_nodes.py [--lease 15] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import docker
import psycopg
import requests
from docker.types import IPAMConfig, IPAMPool
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.engine.images import build_busybox_image  # noqa: E402
from tests.dockerd import assert_host_network_is, host_network  # noqa: E402

NODES = 3
RANGES = ("10.215.", "10.216.")  # node links and bridges; overlays
OVERLAY_POOL = "10.216.0.0/16"
#: `ip netns exec` mounts a fresh /sys: mount the host's cgroup hierarchies on it again.
MOUNT_CGROUPS = """set -e
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
while read -r source target type options _; do
  case "$type" in
    cgroup|cgroup2) mkdir -p "$target"; mount -t "$type" -o "$options" "$source" "$target" ;;
  esac
done </proc/1/mounts
exec "$@"
"""


@dataclass
class Node:
    index: int
    namespace: str
    switch: str
    switch_port: str
    root: Path
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"10.215.0.{10 + self.index}"

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=30)


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def check_ranges() -> None:
    routed = [line for line in run("ip", "route").splitlines() if line.startswith(RANGES)]
    if routed:
        raise SystemExit(f"the host already routes {routed}: pick other ranges")


@contextmanager
def swarm(tag: str, work: Path, image: str) -> Iterator[list[Node]]:
    """Three nodes in a swarm (node 0 the manager) with `image` loaded; all removed after."""
    switch = f"stwn{tag}-switch"
    nodes: list[Node] = []
    try:
        run("ip", "netns", "add", switch)
        run("ip", "netns", "exec", switch, "ip", "link", "add", "name", "sw", "type", "bridge")
        run("ip", "netns", "exec", switch, "ip", "link", "set", "sw", "up")
        for index in range(NODES):
            node = Node(index, f"stwn{tag}-{index}", switch, f"port{index}",
                        work / f"n{index}")
            nodes.append(node)
            wire(node)
            start_dockerd(node)
            gateway_bridge(node)
            load(node, image)
        join(nodes)
        yield nodes
    finally:
        for node in nodes:
            remove(node)
        subprocess.run(["ip", "netns", "delete", switch], capture_output=True)


def wire(node: Node) -> None:
    """The node's namespace, its eth0 on the switch and its own default bridge `stwb`."""
    node.root.mkdir(parents=True)
    run("ip", "netns", "add", node.namespace)
    run("ip", "netns", "exec", node.switch, "ip", "link", "add", node.switch_port,
        "type", "veth", "peer", "name", "eth0", "netns", node.namespace)
    link(node, "master", "sw", "up")
    inside = ("ip", "netns", "exec", node.namespace, "ip")
    for command in (("addr", "add", f"{node.address}/24", "dev", "eth0"),
                    ("link", "set", "eth0", "up"), ("link", "set", "lo", "up"),
                    ("link", "add", "name", "stwb", "type", "bridge"),
                    ("addr", "add", f"10.215.{10 + node.index}.1/24", "dev", "stwb"),
                    ("link", "set", "stwb", "up")):
        run(*inside, *command)


def start_dockerd(node: Node, timeout: float = 60) -> None:
    with (node.root / "dockerd.log").open("ab") as log:
        node.process = subprocess.Popen(
            ["ip", "netns", "exec", node.namespace, "sh", "-c", MOUNT_CGROUPS, "dockerd",
             "dockerd", "--data-root", str(node.root / "data"),
             "--exec-root", str(node.root / "exec"), "--pidfile", str(node.root / "docker.pid"),
             "--host", node.url, "--bridge", "stwb", "--iptables=false", "--ip-masq=false",
             "--storage-driver", "vfs"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    wait(lambda: answers(node), timeout, f"node {node.index}'s dockerd to answer")


def answers(node: Node) -> bool:
    if node.process is None or node.process.poll() is not None:
        raise RuntimeError(f"node {node.index}'s dockerd exited: "
                           + (node.root / "dockerd.log").read_text()[-2000:])
    with socket.socket(socket.AF_UNIX) as probe:
        if probe.connect_ex(str(node.root / "docker.sock")) != 0:
            return False
    with closing(node.client()) as client:
        return bool(client.ping())


def gateway_bridge(node: Node) -> None:
    """docker_gwbridge made beforehand, on a subnet of ours and without masquerading."""
    with closing(node.client()) as client:
        client.networks.create(
            "docker_gwbridge", driver="bridge",
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=f"10.215.{20 + node.index}.0/24")]),
            options={"com.docker.network.bridge.name": "stwg",
                     "com.docker.network.bridge.enable_icc": "false",
                     "com.docker.network.bridge.enable_ip_masquerade": "false"})


def load(node: Node, image: str) -> None:
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    loaded = subprocess.run(["docker", "-H", node.url, "load"], stdin=save.stdout,
                            capture_output=True, text=True)
    save.stdout.close()
    if save.wait() != 0 or loaded.returncode != 0:
        raise RuntimeError(f"loading {image} into node {node.index}: {loaded.stderr}")


def join(nodes: list[Node]) -> None:
    manager, workers = nodes[0], nodes[1:]
    with closing(manager.client()) as client:
        client.swarm.init(advertise_addr=manager.address, listen_addr=f"{manager.address}:2377",
                          default_addr_pool=[OVERLAY_POOL], subnet_size=24,
                          task_history_retention_limit=100)
        token = client.swarm.attrs["JoinTokens"]["Worker"]
    for worker in workers:
        with closing(worker.client()) as client:
            client.swarm.join(remote_addrs=[f"{manager.address}:2377"], join_token=token,
                              listen_addr=f"{worker.address}:2377",
                              advertise_addr=worker.address)
    wait(lambda: all(s == "ready" for s in node_states(manager).values()), 60,
         "every node to be ready")


def node_states(manager: Node) -> dict[str, str]:
    """Each node's address and its state as the manager sees it."""
    with closing(manager.client()) as client:
        return {n["Status"].get("Addr", ""): n["Status"]["State"] for n in client.api.nodes()}


def stop_dockerd(node: Node, how: int = signal.SIGTERM, timeout: float = 60) -> None:
    if node.process is None or node.process.poll() is not None:
        return
    node.process.send_signal(how)
    try:
        node.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        node.process.kill()
        node.process.wait()


def remove(node: Node) -> None:
    """Stop the dockerd, end what still runs in the namespace (its containerd and shims),
    unmount what it left under its root, delete the namespace (and with it the veth pair)
    and the files."""
    stop_dockerd(node)
    if Path(f"/run/netns/{node.namespace}").exists():
        for pid in run("ip", "netns", "pids", node.namespace).split():
            os.kill(int(pid), signal.SIGKILL)
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(f"{node.root}/")]
    for target in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
    subprocess.run(["ip", "netns", "delete", node.namespace], capture_output=True)
    shutil.rmtree(node.root, ignore_errors=True)


def wait(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"gave up waiting {timeout:g} s for {what}")
        time.sleep(poll)
    return time.monotonic() - start


def desired(image: str, marker: int, replicas: int) -> str:
    return (f"services:\n  web:\n    category: infrastructure\n    image: {image}\n"
            f"    init: true\n    command: [\"sleep\", \"{marker}\"]\n"
            f"    replicas: {replicas}\n    stop_grace_period: 1s\n")


def start_steward(env: dict[str, str], name: str, port: int, work: Path) -> subprocess.Popen:
    with (work / f"steward-{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env={**env, "STEWARD_REPLICA_NAME": name}, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT)


def get(port: int, path: str) -> dict:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=2).json()
    except (requests.RequestException, ValueError):
        return {}


def role(port: int) -> str | None:
    return get(port, "/readyz").get("role")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sleepers(marker: int) -> int:
    """The `sleep <marker>` processes running on this machine: the service's tasks."""
    wanted = f"sleep\0{marker}\0".encode()
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            count += entry.name.isdigit() and (entry / "cmdline").read_bytes() == wanted
        except OSError:
            continue
    return count


def service(manager: Node, name: str) -> dict:
    with closing(manager.client()) as client:
        return client.api.inspect_service(name)


def tasks(manager: Node, name: str) -> list[dict]:
    with closing(manager.client()) as client:
        return client.api.tasks(filters={"service": name})


def running_on(manager: Node, name: str) -> Counter:
    """Running tasks the manager wants running, by node address."""
    with closing(manager.client()) as client:
        addresses = {n["ID"]: n["Status"].get("Addr", "") for n in client.api.nodes()}
        return Counter(addresses.get(t.get("NodeID"), "?")
                       for t in client.api.tasks(filters={"service": name})
                       if t["DesiredState"] == "running" and t["Status"]["State"] == "running")


def lose_worker(manager: Node, worker: Node, port: int, name: str, marker: int,
                cut: Callable[[], None], heal: Callable[[], None]) -> dict:
    """Cut a worker off; follow the manager, the tasks and the API until all three replicas
    run elsewhere and the API says so; heal it and wait for its old task to stop."""
    marks: dict[str, float] = {}
    timeline: list[tuple[float, str, str]] = []
    with closing(worker.client()) as client:
        worker_id = client.info()["Swarm"]["NodeID"]
    moved = running_on(manager, name)[worker.address]
    most = sleepers(marker)
    start = time.monotonic()
    cut()
    try:
        while "API running 3/3 again" not in marks:
            now = time.monotonic() - start
            if now > 180:
                raise TimeoutError(f"no recovery after 180 s: {marks} {timeline}")
            detail = get(port, "/api/system/services/web")
            seen = (str(detail.get("status")), str(detail.get("replicas")))
            if not timeline or timeline[-1][1:] != seen:
                timeline.append((now, *seen))
            if node_states(manager).get(worker.address) == "down":
                marks.setdefault("manager marks the node down", now)
            placed = running_on(manager, name)
            if sum(placed.values()) == 3 and worker.address not in placed:
                marks.setdefault("Swarm runs 3 tasks on the other nodes", now)
            on_worker = any(t.get("node") == worker_id[:12] for t in detail.get("tasks") or [])
            if "Swarm runs 3 tasks on the other nodes" in marks and not on_worker \
                    and seen == ("running", "3/3"):
                marks["API running 3/3 again"] = now
            most = max(most, sleepers(marker))
            time.sleep(0.2)
    finally:
        healed = time.monotonic()
        heal()
    wait(lambda: node_states(manager).get(worker.address) == "ready", 120, "the worker back")
    marks["healed -> node ready"] = time.monotonic() - healed
    wait(lambda: sleepers(marker) == 3, 120, "the old task to stop")
    marks["healed -> its old task stopped (3 sleep processes)"] = time.monotonic() - healed
    old = [f"{t['Status']['State']} ({t['Status'].get('Err') or t['Status'].get('Message')})"
           for t in tasks(manager, name)
           if t.get("NodeID") == worker_id and t["DesiredState"] != "running"]
    return {"marks": marks, "timeline": timeline, "most sleepers": most, "moved": moved,
            "old tasks": old}


def link(node: Node, *settings: str) -> None:
    """Set the switch's end of the node's link (`up`, `down`, its bridge)."""
    run("ip", "netns", "exec", node.switch, "ip", "link", "set", node.switch_port, *settings)


def failover(replicas: dict[int, subprocess.Popen], env: dict[str, str], work: Path,
             manager: Node, name: str, lease: float, write: Callable[[int], None],
             count: int) -> dict:
    """SIGKILL the leading replica, ask for `count` replicas, time the takeover and the
    new leader's scale on the manager; start the killed replica again as the follower."""
    leader = next(port for port in replicas if role(port) == "leader")
    follower = next(port for port in replicas if port != leader)
    time.sleep(random.uniform(0, lease / 3))
    replicas[leader].send_signal(signal.SIGKILL)
    start = time.monotonic()
    write(count)
    marks: dict[str, float] = {}
    while len(marks) < 3:
        now = time.monotonic() - start
        if now > 3 * lease + 60:
            raise TimeoutError(f"no takeover after {now:.0f} s: {marks}")
        if role(follower) == "leader":
            marks.setdefault("leads", now)
        if service(manager, name)["Spec"]["Mode"]["Replicated"]["Replicas"] == count:
            marks.setdefault("scaled on the manager", now)
        if get(follower, "/api/system/services/web").get("replicas") == f"{count}/{count}":
            marks.setdefault("API shows it running", now)
        time.sleep(0.05)
    replicas[leader].wait()
    replicas[leader] = start_steward(env, f"r{leader}", leader, work)
    wait(lambda: role(leader) == "follower", 120, "the restarted replica to follow")
    return marks


def service_events(manager: Node, name: str, since: float) -> list[tuple[float, str]]:
    """The manager's service events for `name` since `since`: (epoch s, action)."""
    with closing(manager.client()) as client:
        events = client.events(since=int(since), until=int(time.time()) + 1,
                               filters={"type": "service"}, decode=True)
        return [(e["timeNano"] / 1e9, e["Action"]) for e in events
                if e.get("Actor", {}).get("Attributes", {}).get("name") == name]


def by_phase(events: list[tuple[float, str]], phases: dict[str, float]) -> dict[str, Counter]:
    """Events counted in the phase (named by its start, epoch s) each falls in."""
    found: dict[str, Counter] = {phase: Counter() for phase in phases}
    for at, action in events:
        phase = max((p for p in phases if phases[p] <= at), key=phases.get, default=None)
        if phase:
            found[phase][action] += 1
    return found


def version(node: Node) -> str:
    with closing(node.client()) as client:
        return client.version()["Version"]


def database(admin_dsn: str, name: str, create: bool) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"' if create
                           else f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    before = host_network()
    check_ranges()
    tag = uuid.uuid4().hex[:6]
    image = f"steward-bench-busybox:{tag}"
    admin = make_url(run(str(ROOT / "scripts" / "ensure-postgres.sh")).strip())
    admin_dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    db = f"steward_bench_{tag}"
    work = Path(tempfile.mkdtemp(prefix=f"stwnodes-{tag}-", dir="/tmp"))
    host = docker.from_env()
    try:
        build_busybox_image(host, image)
        database(admin_dsn, db, create=True)
        with swarm(tag, work, image) as nodes:
            url = admin.set(database=db).render_as_string(hide_password=False)
            report(measure(nodes, work, image, url, args.lease, args.rounds), args)
    finally:
        with closing(host):
            host.images.remove(image, force=True)
        database(admin_dsn, db, create=False)
        shutil.rmtree(work, ignore_errors=True)
        assert_host_network_is(before)
    print("the host's links and routes are as they were before the run")


def measure(nodes: list[Node], work: Path, image: str, url: str, lease: float,
            rounds: int) -> dict:
    manager = nodes[0]
    instance = f"b{uuid.uuid4().hex[:8]}"
    name = f"{instance}_web"
    marker = random.randint(3_000_000, 9_000_000)
    (work / "ds").mkdir()

    def write(count: int | None) -> None:
        text = desired(image, marker, count) if count else "services: {}\n"
        (work / "ds" / "web.tmp").write_text(text)
        (work / "ds" / "web.tmp").replace(work / "ds" / "web.yaml")

    write(None)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
           "DOCKER_HOST": manager.url, "STEWARD_ENGINE": "swarm", "STEWARD_INSTANCE": instance,
           "STEWARD_DATABASE_URL": url, "STEWARD_DESIRED_STATE": str(work / "ds"),
           "STEWARD_RECONCILE_INTERVAL": "1", "STEWARD_LEASE_SECONDS": f"{lease:g}",
           "STEWARD_SECRET_KEY": "bench", "STEWARD_LOG_LEVEL": "INFO"}
    first, second = free_port(), free_port()
    replicas = {first: start_steward(env, f"r{first}", first, work)}
    phases: dict[str, float] = {}
    try:
        wait(lambda: role(first) == "leader", 120, "the first replica to lead")
        replicas[second] = start_steward(env, f"r{second}", second, work)
        wait(lambda: role(second) == "follower", 120, "the second replica to follow")
        phases["create"] = time.time()
        write(3)
        created = wait(lambda: get(first, "/api/system/services/web").get("replicas") == "3/3",
                       120, "the service to run 3/3")
        spread = running_on(manager, name)
        lost = {}
        for how, worker, cut, heal in (
                ("worker dockerd SIGKILL", nodes[1],
                 lambda: stop_dockerd(nodes[1], signal.SIGKILL), lambda: start_dockerd(nodes[1])),
                ("worker link down", nodes[2],
                 lambda: link(nodes[2], "down"), lambda: link(nodes[2], "up"))):
            phases[how] = time.time()
            lost[how] = lose_worker(manager, worker, first, name, marker, cut, heal)
        phases["leader SIGKILL"] = time.time()
        takeovers = [failover(replicas, env, work, manager, name, lease, write, 4 + n)
                     for n in range(rounds)]
        wait(lambda: sleepers(marker) == 3 + rounds, 60, "every asked replica to run")
        leader = next(port for port in replicas if role(port) == "leader")
        follower = next(port for port in replicas if port != leader)
        events = get(leader, "/api/system/events?service=web&limit=1000").get("events", [])
        return {"created": created, "spread": spread, "lost": lost,
                "takeovers": takeovers, "rounds": rounds, "lease": lease,
                "service events": by_phase(service_events(manager, name, phases["create"]),
                                           phases),
                "tasks": len(tasks(manager, name)), "sleepers": sleepers(marker),
                "steward events": Counter(e.get("kind") for e in events),
                "failed": [e.get("message") for e in events if e.get("kind") == "task-failed"],
                "docker": version(manager),
                "views": {who: {k: get(port, "/api/system/services/web").get(k)
                                for k in ("status", "replicas")}
                          for who, port in (("leader", leader), ("follower", follower))}}
    finally:
        for process in replicas.values():
            process.terminate()
            process.wait(timeout=30)
        with closing(manager.client()) as client:
            for found in client.services.list(filters={"name": name}):
                found.remove()


def report(figures: dict, args: argparse.Namespace) -> None:
    rounds, lost = figures["rounds"], figures["lost"]
    moved = sum(found["moved"] for found in lost.values())
    print(f"Docker {figures['docker']}, {NODES} nodes in network namespaces on one machine "
          f"(shared CPU); tasks per node at start: {dict(figures['spread'])}")
    print(f"{'what':66} seconds")
    print(f"{'desired state written -> API running 3/3':66} {figures['created']:6.1f}")
    for how, found in lost.items():
        for mark, at in found["marks"].items():
            print(f"{how + ' -> ' + mark:66} {at:6.1f}")
    for mark in ("leads", "scaled on the manager", "API shows it running"):
        found = ", ".join(f"{t[mark]:.1f}" for t in figures["takeovers"])
        print(f"{f'leader SIGKILL (lease {args.lease:g} s) -> follower {mark}':66} {found}")
    for how, found in lost.items():
        print(f"{how}: API (s, status, replicas) "
              + "; ".join(f"{t:.1f} {s} {r}" for t, s, r in found["timeline"])
              + f"; at most {found['most sleepers']} `sleep` task processes alive (3 asked);"
              f" the old tasks ended as {found['old tasks']}")
    print(f"asked: 1 create and {rounds} scale-ups; the manager's service events by phase: "
          + "; ".join(f"{phase} {dict(found)}"
                      for phase, found in figures["service events"].items()))
    print(f"tasks Swarm created: {figures['tasks']} (3 + {moved} rescheduled + {rounds} "
          f"scale-ups = {3 + moved + rounds}); task processes at the end: "
          f"{figures['sleepers']} (asked {3 + rounds})")
    print(f"Steward's events for the service: {dict(figures['steward events'])}; "
          f"task-failed: {figures['failed']}")
    print(f"the service at the end, as each replica's API shows it: {figures['views']}")


if __name__ == "__main__":
    main()
