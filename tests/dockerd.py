"""A dockerd of our own (own data root, socket, exec root and bridge), for the tests and
benchmarks that stop and start the engine: nothing else on the machine is touched.

It gets a bridge of its own rather than `--bridge=none`, because dockerd deletes the
host's default `docker0` bridge when started with `--bridge=none`. For the same reason it
has no `--default-address-pool`: with one set, a dockerd that starts again on its data root
deletes the link named `docker0` (the host's) to renew its default bridge. Its networks
still never overlap the host daemon's: both skip subnets the host already routes.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import docker


class PrivateDockerd:
    def __init__(self, root: Path, bridge: str) -> None:
        self.root = root
        self.bridge = bridge
        self.socket = root / "docker.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> None:
        with (self.root / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["dockerd", "--data-root", str(self.root / "data"),
                 "--exec-root", str(self.root / "exec"),
                 "--pidfile", str(self.root / "docker.pid"), "--host", self.url,
                 "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
                 "--storage-driver", "vfs"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private dockerd did not answer within {timeout}s")
            time.sleep(0.2)

    def _answers(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError("the private dockerd exited: "
                               + (self.root / "dockerd.log").read_text()[-2000:])
        with socket.socket(socket.AF_UNIX) as probe:  # the SDK leaks a socket on refusal
            if probe.connect_ex(str(self.socket)) != 0:
                return False
        with closing(self.client()) as client:
            return bool(client.ping())

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (dockerd stops its containers), SIGKILL if it does not end in time."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=30)

    def network_bridges(self) -> list[str]:
        """The host links of the networks made in it: dockerd leaves them when it stops."""
        try:
            with closing(self.client()) as client:
                return [f"br-{n.id[:12]}" for n in client.networks.list()
                        if n.name not in ("bridge", "host", "none")]
        except docker.errors.DockerException:
            return []


@contextmanager
def private_dockerd() -> Iterator[PrivateDockerd]:
    """Started, and on leaving stopped with its bridge and files removed."""
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed; run ./scripts/test.sh")
    root = Path(tempfile.mkdtemp(prefix="stw-", dir="/tmp"))  # short: socket paths are limited
    bridge = f"stw{uuid.uuid4().hex[:8]}"
    subnet = f"10.231.{uuid.uuid4().int % 250}.1/24"
    for command in (["ip", "link", "add", "name", bridge, "type", "bridge"],
                    ["ip", "addr", "add", subnet, "dev", bridge],
                    ["ip", "link", "set", bridge, "up"]):
        subprocess.run(command, check=True)
    before = host_network()
    engine = PrivateDockerd(root, bridge)
    try:
        engine.start()
        yield engine
    finally:
        leftovers = engine.network_bridges()
        engine.stop()
        for link in [bridge, *leftovers]:
            subprocess.run(["ip", "link", "delete", link], check=False)
        shutil.rmtree(root, ignore_errors=True)
        assert_host_network_is(before)


def assert_host_network_is(before: tuple[list[str], list[str]]) -> None:
    """Fail loudly, naming the difference, when the host's links or routes changed."""
    after = host_network()
    if after != before:
        gone = [x for x in before[0] + before[1] if x not in after[0] + after[1]]
        added = [x for x in after[0] + after[1] if x not in before[0] + before[1]]
        raise AssertionError(f"the host's network changed: gone {gone}, added {added}")


SWARM_SANDBOX = Path(__file__).resolve().parent.parent / "scripts" / "swarm-sandbox.sh"


def host_network() -> tuple[list[str], list[str]]:
    """`ip -br link` and `ip route`, less what other sessions' containers and networks
    and other tests' private dockerds add, remove and bring up or down meanwhile (veth
    pairs, br-* and stw* bridges): what a sandbox must leave as is. Links by name and
    address, routes without `linkdown`: a bridge's carrier comes and goes with containers."""
    links = subprocess.run(["ip", "-br", "link"], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    routes = subprocess.run(["ip", "route"], check=True, capture_output=True,
                            text=True).stdout.splitlines()
    return ([" ".join(line.split()[::2][:2]) for line in links  # name and MAC: a bridge's
             if not line.startswith(("veth", "br-", "stw"))],  # carrier follows containers
            [line.replace(" linkdown", "").strip() for line in routes
             if " dev br-" not in line and " dev stw" not in line])


def sandbox_links(directory: Path) -> list[str]:
    """The links and routes a sandbox in `directory` makes (its bridges, `stws`/`stwg` and
    the directory's hash, as scripts/swarm-sandbox.sh names them)."""
    tag = hashlib.sha256(str(directory).encode()).hexdigest()[:6]
    found = subprocess.run(["ip", "-br", "link"], check=True, capture_output=True,
                           text=True).stdout + subprocess.run(
        ["ip", "route"], check=True, capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if f"stws{tag}" in line or f"stwg{tag}" in line]


@contextmanager
def swarm_sandbox(images: list[str], directory: Path) -> Iterator[str]:
    """`scripts/swarm-sandbox.sh up` with `images` loaded, yielding its DOCKER_HOST; `down`
    on leaving, pass or fail."""
    env = {**os.environ, "STEWARD_SWARM_DIR": str(directory)}
    try:
        started = subprocess.run([str(SWARM_SANDBOX), "up", *images], env=env,
                                 capture_output=True, text=True, timeout=180)
        if started.returncode != 0:
            raise RuntimeError(f"swarm-sandbox.sh up failed:\n{started.stderr[-2000:]}")
        last = started.stdout.strip().splitlines()[-1]
        assert last.startswith("DOCKER_HOST=unix://"), started.stdout
        yield last.removeprefix("DOCKER_HOST=")
    finally:
        subprocess.run([str(SWARM_SANDBOX), "down"], env=env, capture_output=True,
                       timeout=120, check=False)
