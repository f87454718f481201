"""Which reviewed commit the desired state came from: git's HEAD and whether it was dirty.

Asked once per load (only when the files changed), so every load, apply and container can
be traced back to a commit. Outside a git work tree, or without git, there is no revision.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Revision:
    commit: str | None = None
    dirty: bool | None = None

    def describe(self) -> str:
        if self.commit is None:
            return "not in git"
        return self.commit[:12] + (" (dirty)" if self.dirty else "")


def git(root: Path, *args: str, timeout: float = 10) -> str:
    """Run git in `root`; raises CalledProcessError, TimeoutExpired or FileNotFoundError."""
    done = subprocess.run(["git", "-C", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, check=True)
    return done.stdout.strip()


def revision_of(root: Path) -> Revision:
    """HEAD of the work tree holding `root`, and whether anything under `root` differs from
    it (edited, added or removed files: what would be loaded is not what was reviewed)."""
    try:
        commit = git(root, "rev-parse", "HEAD")
        status = git(root, "status", "--porcelain", "--untracked-files=all", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return Revision()
    return Revision(commit, bool(status))
