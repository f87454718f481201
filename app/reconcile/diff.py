"""Field-by-field differences between the spec a container was made from and the desired one.

Pure: both sides are the container fields as labels keep them (`ServiceSpec.label_fields()`,
and the `io.steward.spec` label of the container), where secrets are fingerprints. Secrets
are never shown; that one changed is.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from app.desired_state import secrets
from app.desired_state.spec import describe_gpus


@dataclass(frozen=True)
class Change:
    field: str
    old: str | None  # None: not set before
    new: str | None  # None: not set any more

    def render(self) -> str:
        if self.old is None:
            return f"+ {self.field}: {self.new}"
        if self.new is None:
            return f"- {self.field}: {self.old}"
        return f"~ {self.field}: {self.old} -> {self.new}"


def spec_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any],
                 fields: tuple[str, ...]) -> list[Change]:
    """The changes in `fields` (the drifted ones); `old` None means the container predates
    the spec label, so only the new values can be shown."""
    changes: list[Change] = []
    for field in fields:
        before = old.get(field) if old is not None else _UNKNOWN
        after = new.get(field)
        if field == "environment":
            changes += _mapping_changes("environment", before, after, secret_names=True)
        elif field == "files":
            changes += _mapping_changes("files", before, after, secret_names=False,
                                        describe=lambda digest: f"content {digest[:12]}")
        elif field in ("labels", "extra_hosts"):
            changes += _mapping_changes(field, before, after, secret_names=False)
        elif field in _ITEMS:
            changes += _list_changes(field, before, after)
        else:
            was, now = _show(field, before), _show(field, after)
            if before != after and was == now and now is not None:
                now += " (changed)"
            changes.append(Change(field, was, now))
    return [c for c in changes if c.old != c.new]


class _Unknown:
    """The container predates the spec label: what it was made from is not known."""


_UNKNOWN = _Unknown()


def _show(field: str, value: Any) -> str | None:
    if isinstance(value, _Unknown):
        return "(unknown)"
    if value in (None, (), []):
        return None
    if field in ("command", "entrypoint"):
        return _command(value)
    if field == "build":
        target = f", target {value['target']}" if value.get("target") else ""
        return f"{value['context']} ({value['dockerfile']}{target}, content " \
               f"{value['content'][:12]})"
    if field == "logging":
        options = " ".join(f"{k}={v}" for k, v in value.get("options") or ())
        return f"{value['driver']} {options}".strip()
    if field == "healthcheck":
        return (f"{_command(value.get('command') or ())} "
                f"every {value.get('interval'):g}s, timeout {value.get('timeout'):g}s, "
                f"{value.get('retries')} retries")
    if field == "resources":
        parts = [f"memory={value['memory_bytes']}" if value.get("memory_bytes") else "",
                 f"cpus={value['cpus']:g}" if value.get("cpus") else ""]
        return " ".join(p for p in parts if p) or None
    return str(value)


def _command(arguments: Any) -> str:
    """Arguments as a shell would read them, secret-looking values masked (and not quoted)."""
    plain = [secrets.shown_part(str(a)) for a in arguments]
    placeholder = "MaskedValue0"  # quoted like a plain word, then put back
    return " ".join(shlex.quote(a.replace(secrets.MASK, placeholder)).replace(
        placeholder, secrets.MASK) for a in secrets.shown_command(plain))


def _mapping_changes(field: str, before: Any, after: Any, *, secret_names: bool,
                     describe: Any = str) -> list[Change]:
    old = {} if isinstance(before, _Unknown) else dict(before or ())
    new = dict(after or ())
    changes = []
    for key in sorted(set(old) | set(new)):
        hidden = secret_names and secrets.is_secret(key)

        def show(value: Any) -> str | None:
            if value is None:
                return None
            if hidden:
                return "(sensitive)"
            return secrets.without_credentials(describe(secrets.shown_part(value)))

        was = "(unknown)" if isinstance(before, _Unknown) else show(old.get(key))
        now = show(new.get(key))
        if old.get(key) != new.get(key) or isinstance(before, _Unknown):
            if old.get(key) != new.get(key) and was == now and now is not None:
                now = "(sensitive, changed)" if now == "(sensitive)" else f"{now} (changed)"
            changes.append(Change(f"{field}.{key}", was, now))
    return changes


def _list_changes(field: str, before: Any, after: Any) -> list[Change]:
    new = [_item(field, v) for v in after or ()]
    if isinstance(before, _Unknown):
        return [Change(field, "(unknown)", ", ".join(new) or None)]
    old = [_item(field, v) for v in before or ()]
    return [Change(field, None, item) for item in new if item not in old] + \
        [Change(field, item, None) for item in old if item not in new]


def _item(field: str, value: Any) -> str:
    return _ITEMS[field](value)


def _port(value: Mapping[str, Any]) -> str:
    return f"{value['host_ip']}:{value['host_port']}->{value['container_port']}/" \
           f"{value['protocol']}"


def _volume(value: Mapping[str, Any]) -> str:
    mode = ",".join(o for o in ("ro" if value.get("read_only") else "", value.get("relabel"))
                    if o)
    return f"{value['source']}:{value['target']}{':' + mode if mode else ''}"


def _network(value: Mapping[str, Any]) -> str:
    aliases = value.get("aliases") or ()
    extra = " (external)" if value.get("external") else ""
    return value["name"] + extra + (f" aliases {', '.join(aliases)}" if aliases else "")


def _gpu(value: Mapping[str, Any]) -> str:
    return describe_gpus([value])[0]


def _ulimit(value: Mapping[str, Any]) -> str:
    return f"{value['name']}={value['soft']}:{value['hard']}"


_ITEMS: Mapping[str, Any] = {
    "ports": _port, "volumes": _volume, "networks": _network, "gpus": _gpu,
    "ulimits": _ulimit, "tmpfs": str, "cap_drop": str, "security_opt": str,
}
