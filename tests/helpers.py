"""Small helpers the tests share."""
from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

from docker.models.containers import Container


def write_state(directory: Path, text: str, name: str = "services.yaml") -> Path:
    """Write one desired-state file (dedented) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def kill_main_process(container: Container) -> None:
    """SIGKILL a running container's main process from the host, as the OOM killer would.

    Refuses a container that is not running: its recorded PID is 0, and signalling 0
    would kill the caller's own process group.
    """
    container.reload()
    pid = container.attrs["State"]["Pid"]
    if container.status != "running" or pid <= 0:
        raise RuntimeError(f"{container.name} is {container.status} (pid {pid}); not killing")
    os.kill(pid, signal.SIGKILL)
