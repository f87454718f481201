"""Small helpers the tests share."""
from __future__ import annotations

import textwrap
from pathlib import Path


def write_state(directory: Path, text: str, name: str = "services.yaml") -> Path:
    """Write one desired-state file (dedented) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path
