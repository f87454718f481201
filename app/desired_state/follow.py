"""Following changes to the desired state without a restart.

`FileWatcher` notices an edit of any file under the desired-state directory within about
a second (a cheap look at names, sizes and times) and asks for a pass, which loads the
files: a valid edit takes effect, an invalid one is rejected whole and reported, and the
last good state stays in force.

`GitFollower` (optional, `STEWARD_GIT_URL`) keeps Steward's own clone of a remote branch up
to date: fetch, then fast-forward only. A failed fetch, or a branch whose history no longer
contains what Steward runs, is reported and never forced; Steward stays where it was.
It fetches every `interval` seconds, and at once when `wake` is called (a signed push
webhook, `app/api/git/routes.py`).
The remote's URL may hold a token (`https://user:TOKEN@host/...`): every result and log
line shows it through `without_credentials`.
"""
from __future__ import annotations

import logging
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.desired_state.loader import tree_signature
from app.desired_state.revision import git
from app.desired_state.secrets import without_credentials
from app.support.worker import Worker

log = logging.getLogger(__name__)


class FileWatcher:
    def __init__(self, root: Path, on_change: Callable[[], None], interval: float = 1.0) -> None:
        self.root = root
        self.on_change = on_change
        self.interval = interval
        self._worker = Worker("steward-files", self._loop)

    def start(self) -> None:
        self._worker.start()

    def _loop(self) -> None:
        seen = tree_signature(self.root)
        while not self._worker.stopping.wait(self.interval):
            try:
                now = tree_signature(self.root)
                if now != seen:
                    seen = now
                    log.info("desired-state files changed; loading them")
                    self.on_change()
            except Exception:  # noqa: BLE001 - keep watching whatever one look hit
                log.exception("watching %s failed; looking again", self.root)

    def stop(self) -> None:
        self._worker.stop()


@dataclass(frozen=True)
class SyncResult:
    ok: bool
    commit: str | None
    detail: str
    moved: bool = False  # the checkout changed: load it


class GitFollower:
    def __init__(self, *, url: str, branch: str, checkout: Path, interval: float,
                 on_result: Callable[[SyncResult], None]) -> None:
        self.url = url
        self.branch = branch
        self.checkout = checkout
        self.interval = interval
        self.on_result = on_result
        self._wake = threading.Event()
        self._worker = Worker("steward-git", self._loop, wake=self._wake.set)

    @property
    def shown_url(self) -> str:
        """The remote as it may be shown: without a password or token in it."""
        return without_credentials(self.url)

    def sync(self) -> SyncResult:
        """Clone, or fetch and fast-forward; never reset, never force.

        The branch is checked as a ref name and every argument follows `--` where git
        allows it, so a branch or URL can never be read as an option. Fetches always go to
        the configured URL, not to whatever `origin` an older clone was made from.
        """
        if not _valid_branch(self.branch):
            return SyncResult(False, None, f"{self.branch!r} is not a valid branch name")
        try:
            if not (self.checkout / ".git").exists():
                self.checkout.parent.mkdir(parents=True, exist_ok=True)
                git(self.checkout.parent, "clone", "--branch", self.branch, "--single-branch",
                    "--", self.url, str(self.checkout), timeout=120)
                head = git(self.checkout, "rev-parse", "HEAD")
                return SyncResult(True, head, f"cloned {self.shown_url} ({self.branch})",
                                  moved=True)
            git(self.checkout, "fetch", "--", self.url,
                f"refs/heads/{self.branch}", timeout=120)
        except subprocess.CalledProcessError as err:
            return SyncResult(False, self._head(), f"git failed: {_stderr(err)}")
        except (OSError, subprocess.SubprocessError) as err:  # a timeout names the URL
            return SyncResult(False, self._head(), f"git failed: {without_credentials(str(err))}")
        return self._fast_forward()

    def _fast_forward(self) -> SyncResult:
        head, remote = self._head(), git(self.checkout, "rev-parse", "FETCH_HEAD")
        if head == remote:
            return SyncResult(True, head, "up to date")
        try:
            git(self.checkout, "merge-base", "--is-ancestor", "HEAD", "FETCH_HEAD")
        except subprocess.CalledProcessError:
            return SyncResult(False, head, f"origin/{self.branch} ({remote[:12]}) is not a "
                                           f"fast-forward of {head[:12]}; not forced, staying "
                                           f"at {head[:12]}")
        try:
            git(self.checkout, "merge", "--ff-only", "FETCH_HEAD")
        except subprocess.CalledProcessError as err:
            return SyncResult(False, head, f"fast-forward failed: {_stderr(err)}")
        return SyncResult(True, remote, f"fast-forwarded {head[:12]} -> {remote[:12]}",
                          moved=True)

    def _head(self) -> str | None:
        try:
            return git(self.checkout, "rev-parse", "HEAD")
        except (OSError, subprocess.SubprocessError):
            return None

    def start(self) -> None:
        self._worker.start()

    def wake(self) -> None:
        """Fetch now instead of at the end of the interval: the git host says a push landed.
        A wake during a fetch is kept, so a push that fetch missed is fetched right after."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._worker.stopping.is_set():
            self._wake.clear()  # before the fetch: a push during it wakes the next one
            try:
                self.on_result(self.sync())
            except Exception as err:  # noqa: BLE001 - keep following whatever one sync hit
                # No traceback: git's errors carry the URL, and with it any token in it.
                log.error("following %s failed; trying again: %s", self.shown_url,
                          without_credentials(f"{type(err).__name__}: {err}"))
            self._wake.wait(self.interval)

    def stop(self) -> None:
        self._worker.stop()


def _valid_branch(branch: str) -> bool:
    if not branch or branch.startswith("-"):
        return False
    try:
        subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True,
                       check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _stderr(err: subprocess.CalledProcessError) -> str:
    text = without_credentials((err.stderr or err.stdout or "").strip())
    return text.splitlines()[-1] if text else f"exit status {err.returncode}"
