"""`steward import-compose`: turn a docker-compose.yml into desired-state YAML.

This module reads the file as a whole: service and network names, where named volumes live,
which services others wait on, and the header listing the variables the result needs.
`compose_service` translates one service key by key. What Steward cannot express is listed
per service (and for the file), so nothing is dropped silently; `${...}` references are
kept as written, since Steward fills them in itself. The result is meant to be reviewed
and committed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.desired_state.compose_lifecycle import healthcheck
from app.desired_state.compose_service import (
    Context,
    Rebase,
    convert_service,
    steward_name,
)

__all__ = ["ComposeError", "Imported", "import_compose", "needed_variables"]

_NETWORK_KEYS = {"external", "name", "internal", "driver"}
#: `$$` is a literal dollar; what is left names a variable, maybe with an operator.
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?|\$([A-Za-z_][A-Za-z0-9_]*)")


class ComposeError(ValueError):
    """The file is not a compose file Steward can read."""


@dataclass
class Imported:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # service -> what was not carried
    file_notes: list[str] = field(default_factory=list)  # top-level keys not carried

    def document(self) -> dict[str, Any]:
        return {"services": self.services, **({"networks": self.networks}
                                                if self.networks else {})}

    def to_yaml(self, source: str) -> str:
        """The file, headed by the variables it needs and what was not carried over."""
        header = [f"# Imported from {source} by `steward import-compose`; review before "
                  "committing."]
        body = yaml.dump(self.document(), Dumper=_Dumper, sort_keys=False, width=100)
        required, optional = needed_variables(body)
        if required:
            header.append(f"# Needs variables {', '.join(required)}: set them in Steward's "
                          "environment or in .env beside this file (keep .env out of git).")
        if optional:
            header.append(f"# Variables with a default: {', '.join(optional)}.")
        header += [f"# {note}" for note in self.file_notes]
        for name, notes in self.notes.items():
            header += [f"# {name}: {note}" for note in notes]
        return "\n".join(header) + "\n" + body


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as people write these files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def needed_variables(text: str) -> tuple[list[str], list[str]]:
    """(variables without a default, variables with one) referenced in `text`; `$$` is an
    escaped dollar, not a reference. `${X:?message}` has no default: it is required."""
    required: set[str] = set()
    optional: set[str] = set()
    for match in _REFERENCE.finditer(text.replace("$$", "")):
        name, operator = match.group(1) or match.group(3), match.group(2) or ""
        (optional if operator and "?" not in operator else required).add(name)
    return sorted(required), sorted(optional - required)


def import_compose(path: Path, category: str | None = None,
                   target_dir: Path | None = None) -> Imported:
    """Read `path`; relative paths are rewritten relative to `target_dir`, where the
    desired-state file will be (default: the compose file's own directory)."""
    document = _read(path)
    result = Imported()
    compose_dir = path.resolve().parent
    raw_services = {str(k): v or {} for k, v in document["services"].items()}
    names = _service_names(raw_services, result.notes)
    result.networks = _networks(document.get("networks") or {}, result.file_notes)
    context = Context(
        rebase=Rebase(compose_dir, (target_dir or path.parent).resolve()),
        names=names, category=category,
        networks={n: steward_name(n) for n in document.get("networks") or {}},
        volumes=_volume_names(document, result.file_notes),
        project=_project(document, compose_dir),
        one_shots=_one_shots(raw_services),
        checked=frozenset(n for n, raw in raw_services.items()
                          if healthcheck(raw.get("healthcheck"), []) is not None))
    for name, raw in raw_services.items():
        notes = result.notes.setdefault(names[name], [])
        result.services[names[name]] = convert_service(name, raw, context, notes)
    result.notes = {k: v for k, v in result.notes.items() if v}
    _file_notes(document, compose_dir, result.file_notes)
    return result


def _read(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ComposeError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ComposeError(f"{path}: no 'services:' mapping; is this a compose file?")
    for name, raw in document["services"].items():
        if not isinstance(raw, (dict, type(None))):
            raise ComposeError(f"{path}: service {name!r} is not a mapping")
    return document


def _service_names(services: dict[str, Any], notes: dict[str, list[str]]) -> dict[str, str]:
    """Compose name -> Steward name; a cleaned name that clashes gets a number."""
    names: dict[str, str] = {}
    for name in services:
        cleaned = steward_name(name)
        if cleaned in names.values():
            cleaned = steward_name(f"{cleaned}-{len(names)}")
            notes[cleaned] = [f"renamed from {name!r}: its cleaned name clashed with "
                              "another service"]
        elif cleaned != name:
            notes[cleaned] = [f"renamed from {name!r} (names are lowercase letters, "
                              "digits, . _ -)"]
        names[name] = cleaned
    return names


def _one_shots(services: dict[str, Any]) -> frozenset[str]:
    """Services another one waits on with `service_completed_successfully`: jobs that run
    to completion (a migration, an init job), which Steward must not restart on exit 0."""
    found = set()
    for raw in services.values():
        depends = raw.get("depends_on")
        if isinstance(depends, dict):
            found |= {str(n) for n, o in depends.items() if isinstance(o, dict)
                      and o.get("condition") == "service_completed_successfully"}
    return frozenset(found)


def _networks(declared: dict[str, Any], notes: list[str]) -> dict[str, dict[str, Any]]:
    """Top-level networks as Steward declares them (bridge networks on one host)."""
    result: dict[str, dict[str, Any]] = {}
    for name, raw in declared.items():
        raw = raw or {}
        if name == "default":
            notes.append("networks.default: not carried over: every service without "
                         "networks: joins Steward's instance network instead")
            continue
        external = raw.get("external")
        network = {k: v for k, v in raw.items() if k in _NETWORK_KEYS - {"external"}}
        if isinstance(external, dict):  # the old `external: {name: ...}` form
            network["name"] = external.get("name", network.get("name", name))
        if external:
            network["external"] = True
        if network.get("driver", "bridge") != "bridge":
            notes.append(f"networks.{name}: driver {network.pop('driver')} is not supported; "
                         "it is a bridge network on this host")
        dropped = sorted(set(raw) - _NETWORK_KEYS)
        if dropped:
            notes.append(f"networks.{name}: {', '.join(dropped)} not carried over")
        if steward_name(name) != name:
            notes.append(f"networks.{name}: renamed {steward_name(name)}")
        result[steward_name(name)] = network
    return result


def _project(document: dict[str, Any], compose_dir: Path) -> str:
    """Compose's project name: `name:` or the directory's, lowercase letters, digits, _ -."""
    project = str(document.get("name") or "")
    if not project or "$" in project:
        project = compose_dir.name
    return re.sub(r"[^a-z0-9_-]", "", project.lower()) or "compose"


def _volume_names(document: dict[str, Any], notes: list[str]) -> dict[str, str]:
    """Declared named volume -> the Docker volume Compose uses when it has its own `name:`
    or is external; the others are `<project>_<name>` (see `Context.volume`)."""
    names: dict[str, str] = {}
    for name, raw in (document.get("volumes") or {}).items():
        raw = raw or {}
        if raw.get("name") or raw.get("external"):
            names[name] = raw.get("name") or name
        extra = sorted(set(raw) - {"name", "external"})
        if extra:
            notes.append(f"volumes.{name}: {', '.join(extra)} not carried over; Docker "
                         "creates a plain local volume if it does not exist")
    return names


def _file_notes(document: dict[str, Any], compose_dir: Path, notes: list[str]) -> None:
    for key in ("secrets", "configs"):
        if key in document:
            notes.append(f"{key}: not carried over (Steward has no equivalent yet)")
    if document.get("volumes"):
        notes.append("volumes: a named volume keeps the name Compose gives it "
                     "(<project>_<name>), so the data Compose left is used")
    if (compose_dir / ".env").is_file():
        notes.append(".env of the compose project: not copied; Steward reads .env in the "
                     "desired-state directory (keep it out of git)")
