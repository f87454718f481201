"""When a compose service starts, counts as healthy and is restarted, in Steward's terms:
`depends_on` conditions, health checks, `restart:` and `profiles`.

These are the keys whose meaning differs most between the two: Compose's engine restarts
containers by `restart:`, Steward heals them itself (`restart_policy`), and a dependency
waited on to be healthy needs a health check Steward can run. Each function takes the
compose value and a list to append notes to.
"""
from __future__ import annotations

import re
from typing import Any, Callable

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def depends_on(value: Any, rename: Callable[[str], str], checked: frozenset[str],
               notes: list[str]) -> list[str] | dict[str, dict[str, str]]:
    """The list form as a list (Steward waits for a dependency's health check where it has
    one), the mapping form with its conditions; `service_healthy` on a service without a
    usable check becomes `service_started`, which is all it could mean."""
    if isinstance(value, list):
        return [rename(str(d)) for d in value]
    result = {}
    for name, options in (value or {}).items():
        options = options or {}
        condition = options.get("condition", "service_started")
        if condition == "service_healthy" and name not in checked:
            notes.append(f"depends_on {name}: it has no health check Steward can use, so "
                         "this waits for it to start, not to be healthy")
            condition = "service_started"
        if options.get("required") is False:
            notes.append(f"depends_on {name}: required: false is not supported; Steward "
                         "needs it in the desired state")
        result[rename(str(name))] = {"condition": condition}
    return result


def healthcheck(raw: Any, notes: list[str]) -> dict[str, Any] | None:
    """Compose's `test:` as Steward's `command:` check, or None (disabled, not understood)."""
    if not isinstance(raw, dict) or raw.get("disable") or raw.get("test") in (["NONE"], "NONE"):
        if raw:
            notes.append("healthcheck: disabled in compose; none carried over")
        return None
    test = raw.get("test")
    if isinstance(test, str):
        command = ["sh", "-c", test]
    elif isinstance(test, list) and test and test[0] == "CMD":
        command = [str(t) for t in test[1:]]
    elif isinstance(test, list) and test and test[0] == "CMD-SHELL":
        command = ["sh", "-c", " ".join(str(t) for t in test[1:])]
    else:
        notes.append(f"healthcheck test {test!r}: not understood; left out")
        return None
    check: dict[str, Any] = {"command": command}
    check.update({k: duration(raw[k]) for k in ("interval", "timeout", "start_period")
                  if k in raw})
    if "retries" in raw:
        check["retries"] = raw["retries"]
    if "start_interval" in raw:
        notes.append("healthcheck start_interval: not carried over")
    return check


def duration(value: Any) -> Any:
    """Compose's `1m30s` as seconds (`90s`), which Steward reads. A `${...}` or anything
    else is kept as written, for Steward's own validation to judge with its line."""
    if isinstance(value, (int, float)):
        return f"{value:g}s"
    parts = _DURATION_PART.findall(str(value))
    if "$" in str(value) or not parts:
        return value
    return f"{sum(float(number) * _UNITS[unit] for number, unit in parts):g}s"


def restart_policy(raw: dict[str, Any], one_shot: bool,
                   notes: list[str]) -> dict[str, Any] | None:
    """Steward heals services itself, so `restart:` (or `deploy.restart_policy`) goes. A job
    others wait on to complete, or an `on-failure` one, runs to completion (`mode: once`):
    exit 0 is left alone, a failed run is restarted. Returns `restart_policy:` or None."""
    text = _restart_text(raw)
    if text.startswith("on-failure") or one_shot:
        policy: dict[str, Any] = {"mode": "once"}
        if text.partition(":")[2].isdigit():
            policy["max_failures"] = int(text.partition(":")[2])
        why = "others wait for it to complete" if one_shot else f"restart {text}"
        notes.append(f"{why}: restart_policy mode once (a run that exits 0 is left alone, "
                     "a failed run is restarted with Steward's backoff)")
        return policy
    if text == "no":
        notes.append("restart no: Steward heals a service that stops; for a job that runs "
                     "once set restart_policy: {mode: once}, to keep it off enabled: false")
    elif text == "unless-stopped":
        notes.append("restart unless-stopped: Steward heals every failure with its own "
                     "policy (backoff and a failure limit); to stop it, set enabled: false")
    return None


def _restart_text(raw: dict[str, Any]) -> str:
    """`restart:` as text (`no`, `on-failure:3`...); Swarm's `deploy.restart_policy` when
    there is no `restart:`. YAML reads an unquoted `no` as false."""
    value = raw.get("restart")
    policy = (raw.get("deploy") or {}).get("restart_policy") or {}
    if value is None and policy:
        value = {"none": "no", "on-failure": "on-failure"}.get(policy.get("condition"),
                                                               "always")
        if value == "on-failure" and policy.get("max_attempts"):
            value = f"on-failure:{policy['max_attempts']}"
    return "no" if value is False else str(value or "")


def profiles(value: Any, notes: list[str]) -> dict[str, Any]:
    """A service in a profile does not run by default: here it is `enabled: false`."""
    notes.append(f"profiles {', '.join(map(str, value or []))}: Compose starts it only "
                 "with --profile; here it is enabled: false (set enabled: true to run it)")
    return {"enabled": False}
