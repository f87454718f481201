"""Configuration: defaults that run out of the box, overridden by STEWARD_* variables.

Read once, in the app factory. DOCKER_HOST (Docker's own variable) picks the engine.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent


def _boolean(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


_boolean.__name__ = "boolean (true or false)"

#: name -> (environment variable, default, parser)
SETTINGS: dict[str, tuple[str, Any, type]] = {
    "DATABASE_URL": ("STEWARD_DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'steward.db'}", str),
    "DESIRED_STATE_DIR": ("STEWARD_DESIRED_STATE", str(ROOT / "desired_state"), str),
    "RECONCILE_INTERVAL": ("STEWARD_RECONCILE_INTERVAL", 10.0, float),
    # the planner's own default (app/reconcile/policy.py); a test keeps the two equal
    "STABLE_PERIOD": ("STEWARD_STABLE_PERIOD", 60.0, float),
    "INSTANCE": ("STEWARD_INSTANCE", "steward", str),
    "DOCKER_TIMEOUT": ("STEWARD_DOCKER_TIMEOUT", 30.0, float),
    "HOST": ("STEWARD_HOST", "127.0.0.1", str),
    "PORT": ("STEWARD_PORT", 8000, int),
    "THREADS": ("STEWARD_THREADS", 16, int),
    "MAX_STREAMS": ("STEWARD_MAX_STREAMS", 8, int),
    "STREAM_SECONDS": ("STEWARD_STREAM_SECONDS", 300.0, float),
    "STREAM_HEARTBEAT": ("STEWARD_STREAM_HEARTBEAT", 15.0, float),
    "SECRET_KEY": ("STEWARD_SECRET_KEY", "", str),
    "API_TOKENS": ("STEWARD_API_TOKENS", "", str),
    "TOKENS_FILE": ("STEWARD_TOKENS_FILE", "", str),
    "OPEN_READS": ("STEWARD_OPEN_READS", False, _boolean),
    "WEBHOOK_URLS": ("STEWARD_WEBHOOK_URLS", "", str),
    "WEBHOOK_BACKOFF": ("STEWARD_WEBHOOK_BACKOFF", 1.0, float),
    "WATCH_INTERVAL": ("STEWARD_WATCH_INTERVAL", 1.0, float),
    "GIT_URL": ("STEWARD_GIT_URL", "", str),
    "GIT_BRANCH": ("STEWARD_GIT_BRANCH", "main", str),
    "GIT_PATH": ("STEWARD_GIT_PATH", "desired_state", str),
    "GIT_POLL": ("STEWARD_GIT_POLL", 30.0, float),
    "GIT_CHECKOUT": ("STEWARD_GIT_CHECKOUT", str(ROOT / "instance" / "desired-repo"), str),
    "LOG_LEVEL": ("STEWARD_LOG_LEVEL", "INFO", str),
    "ALLOWED_HOSTS": ("STEWARD_ALLOWED_HOSTS", "", str),
    "WEBHOOK_SECRET": ("STEWARD_WEBHOOK_SECRET", "", str),
    "EVENT_RETENTION_DAYS": ("STEWARD_EVENT_RETENTION_DAYS", 30.0, float),
    "EVENT_MAX_ROWS": ("STEWARD_EVENT_MAX_ROWS", 100_000, int),
    "REFUSALS_PER_MINUTE": ("STEWARD_REFUSALS_PER_MINUTE", 60, int),
    # The host-access policy for desired-state authors (app/desired_state/host_access.py)
    "ALLOWED_HOST_PATHS": ("STEWARD_ALLOWED_HOST_PATHS", "", str),
    "HOST_PATHS": ("STEWARD_HOST_PATHS", "denylist", str),
    "HOST_ACCESS": ("STEWARD_HOST_ACCESS", "", str),
    "MAX_FILE_BYTES": ("STEWARD_MAX_FILE_BYTES", 1024 * 1024, int),
    "IMAGE_CHECK_INTERVAL": ("STEWARD_IMAGE_CHECK_INTERVAL", 6 * 3600.0, float),
    # Seconds between CPU and memory samples for the page and /metrics (app/engine/stats.py)
    "STATS_INTERVAL": ("STEWARD_STATS_INTERVAL", 10.0, float),
    # The host's age identity file, which decrypts the secrets of desired-state files
    # (app/desired_state/age_secrets.py); empty: no key, so encrypted values do not load.
    "AGE_KEY_FILE": ("STEWARD_AGE_KEY_FILE", "", str),
    # Push webhooks from the git host (app/api/git/); empty turns the endpoint off
    "GIT_WEBHOOK_SECRET": ("STEWARD_GIT_WEBHOOK_SECRET", "", str),
    # docker (containers on one host) or swarm (services on the manager DOCKER_HOST names)
    "ENGINE": ("STEWARD_ENGINE", "docker", str),
    # Replicas on one database elect a leader by a lease of this many seconds, renewed
    # every third of it (app/leadership/lease.py); the name shows who leads (default: host name)
    "LEASE_SECONDS": ("STEWARD_LEASE_SECONDS", 15.0, float),
    "REPLICA_NAME": ("STEWARD_REPLICA_NAME", "", str),
}


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for name, (variable, default, parse) in SETTINGS.items():
        raw = environ.get(variable)
        try:
            config[name] = parse(raw) if raw not in (None, "") else default
        except ValueError:
            raise SystemExit(f"{variable}={raw!r} is not a valid {parse.__name__}") from None
    return config


def desired_state_dir(config: Mapping[str, Any]) -> Path:
    """Where the desired state is read from: the configured directory, or the directory in
    Steward's clone of the followed remote when `STEWARD_GIT_URL` is set."""
    if config["GIT_URL"]:
        return Path(config["GIT_CHECKOUT"]) / config["GIT_PATH"]
    return Path(config["DESIRED_STATE_DIR"])
