"""The host-access policy and bounded loading: what a desired-state author may take from the
host, and files that cannot make Steward spend unbounded time or memory."""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.desired_state import DesiredStateError, load_directory
from app.desired_state.host_access import HostPolicy
from tests.helpers import write_state


def errors_of(directory: Path, body: str, **settings: object) -> list[str]:
    write_state(directory, "services:\n  s:\n    category: ai\n    image: x\n" + body)
    with pytest.raises(DesiredStateError) as caught:
        load_directory(directory, **settings)
    return [str(e).removeprefix(f"{directory.name}/") for e in caught.value.errors]


HOW = "allow it with STEWARD_ALLOWED_HOST_PATHS (see docs/security.md)"


@pytest.mark.parametrize("volume, reason", [
    ("/:/host", f"/ is the host's root directory; {HOW}"),
    ("/etc:/cfg:ro", f"/etc is under /etc, which the host-access policy protects; {HOW}"),
    ("/var/lib/docker/volumes:/v", f"/var/lib/docker/volumes is under /var/lib/docker, which "
                                   f"the host-access policy protects; {HOW}"),
    ("/root/.ssh:/keys", f"/root/.ssh is under /root, which the host-access policy protects; "
                         f"{HOW}"),
    ("../../../../../../../../etc:/x", f"/etc is under /etc, which the host-access policy "
                                       f"protects; {HOW}"),
])
def test_host_system_paths_are_refused_with_file_line_and_how_to_allow(
        tmp_path: Path, volume: str, reason: str) -> None:
    [error] = errors_of(tmp_path, f"    volumes: [\"{volume}\"]\n")
    assert error == f"services.yaml:5: services.s.volumes[0]: {reason}"
    assert error.startswith("services.yaml:5: services.s.volumes[0]: ")


def test_the_docker_socket_is_refused_running_or_not(tmp_path: Path) -> None:
    [error] = errors_of(tmp_path, "    volumes: [\"/var/run/docker.sock:/docker.sock\"]\n")
    assert "/run/docker.sock" in error and HOW in error


def test_any_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outside" / "engine.sock"
    path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        desired = tmp_path / "desired"
        [error] = errors_of(desired, f"    volumes: [\"{path}:/engine.sock\"]\n")
    assert f"{path} is a socket (the Docker socket gives root on the host)" in error


def test_a_symlink_out_of_the_desired_state_directory_is_refused(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    (desired / "files").mkdir(parents=True)
    (desired / "files" / "app.conf").symlink_to("/etc/hostname")
    [error] = errors_of(desired, "    volumes: [\"./files/app.conf:/etc/app.conf\"]\n")
    assert error == ("services.yaml:5: services.s.volumes[0]: ./files/app.conf is a symlink in "
                     "the desired-state directory that leads to /etc/hostname, outside it; "
                     "refer to the real path so a review sees it")


def test_an_allowed_path_is_accepted_and_allowlist_mode_refuses_the_rest(
        tmp_path: Path) -> None:
    data = tmp_path / "srv"
    data.mkdir()
    desired = tmp_path / "desired"
    body = f"    volumes: [\"{data}:/data\", \"/etc/ssl/certs:/certs:ro\"]\n"
    write_state(desired, "services:\n  s:\n    category: ai\n    image: x\n" + body)
    allowed = HostPolicy.from_settings(f"/etc/ssl/certs,{data}")
    assert load_directory(desired, policy=allowed).services["s"].volumes[1].source == \
        os.path.realpath("/etc/ssl/certs")
    only_certs = HostPolicy.from_settings("/etc/ssl/certs", "allowlist")
    assert errors_of(desired, body, policy=only_certs) == [
        f"services.yaml:5: services.s.volumes[0]: {data} is not in STEWARD_ALLOWED_HOST_PATHS "
        f"(allowlist mode); {HOW}"]


@pytest.mark.parametrize("body, grant", [
    ("    privileged: true\n", "privileged"),
    ("    cap_add: [NET_ADMIN]\n", "cap_add=NET_ADMIN"),
    ("    devices: [/dev/dri]\n", "devices=/dev/dri"),
    ("    network_mode: host\n", "network_mode=host"),
    ("    pid: host\n", "pid=host"),
])
def test_host_powers_need_the_operators_grant(tmp_path: Path, body: str, grant: str) -> None:
    [error] = errors_of(tmp_path, body)
    assert error.endswith(f"{grant} needs the operator's grant: add {grant} to "
                          "STEWARD_HOST_ACCESS (see docs/security.md)")
    write_state(tmp_path, "services:\n  s:\n    category: ai\n    image: x\n" + body)
    spec = load_directory(tmp_path, policy=HostPolicy.from_settings(grants=grant)).services["s"]
    assert spec.privileged or spec.cap_add or spec.devices or spec.network_mode or spec.pid


def test_host_network_leaves_the_instance_network(tmp_path: Path) -> None:
    write_state(tmp_path, "services:\n  s: {category: ai, image: x, network_mode: host}\n")
    spec = load_directory(tmp_path, policy=HostPolicy.from_settings(
        grants="network_mode=host")).services["s"]
    assert (spec.network_mode, spec.networks) == ("host", ())


def test_build_contexts_and_env_files_follow_the_same_policy(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "    build: /etc\n    env_file: /etc/environment\n") == [
        f"services.yaml:5: services.s.build: /etc is under /etc, which the host-access "
        f"policy protects; {HOW}",
        f"services.yaml:6: services.s.env_file[0]: /etc/environment is under /etc, which the "
        f"host-access policy protects; {HOW}"]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# " + "x" * 2000 + "\nservices: {}\n")
    with pytest.raises(DesiredStateError) as caught:
        load_directory(tmp_path, max_file_bytes=1000)
    assert [str(e).removeprefix(f"{tmp_path.name}/") for e in caught.value.errors] == [
        "big.yaml:1: the file is 2,016 bytes, over the limit of 1,000 "
        "(STEWARD_MAX_FILE_BYTES); split it or raise the limit"]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("services: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(DesiredStateError) as caught:
        load_directory(tmp_path)
    assert "nested too deeply: more than 64 levels" in str(caught.value)


ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['x'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi")
) + "services:\n  s:\n    category: ai\n    image: x\n    ports: *i\n"


def test_an_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path: Path) -> None:
    """In a child process capped at 1 GiB of address space: 9**9 ports would need far more."""
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    script = textwrap.dedent(f"""
        import resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from pathlib import Path
        from app.desired_state import DesiredStateError, load_directory
        started = time.perf_counter()
        try:
            load_directory(Path({str(tmp_path)!r}))
        except DesiredStateError as err:
            print(err, time.perf_counter() - started)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    message, peak_kib = done.stdout.splitlines()
    assert "expands to more than 100,000 values" in message
    assert float(message.rsplit(" ", 1)[1]) < 1.0, "refused in well under a second"
    assert int(peak_kib) < 600 * 1024, "peak RSS stays far below what the expansion needs"
    assert resource.RLIMIT_AS  # the limit above is what makes a blow-up fail, not hang
