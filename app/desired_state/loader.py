"""Load `desired_state/*.yaml` into one `DesiredState`, or report every error at once.

Loading is all-or-nothing: the caller either gets a complete, valid state or a
`DesiredStateError` listing each problem as `file:line: field: message`, and the store keeps
the last good state. Nothing here touches the store or Docker, so `steward validate` can use it
as a pre-commit hook.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from marshmallow import ValidationError

from app.desired_state.schema import NAME_PATTERN, NAME_RULE, FileSchema, ServiceSchema
from app.desired_state.spec import (
    CATEGORY_RESTART_DEFAULTS, DesiredState, HealthCheck, PortMapping, Resources,
    RestartPolicy, ServiceSpec, VolumeMount,
)
from app.desired_state.yaml_lines import LineDict, YamlSyntaxError, line_of, parse
from app.errors import PermanentError


@dataclass(frozen=True)
class LoadError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}"


class DesiredStateError(PermanentError):
    """The desired state is invalid; nothing was changed."""

    def __init__(self, errors: list[LoadError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class _Parsed:
    file: str
    document: LineDict
    specs: list[ServiceSpec]


def desired_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def tree_files(root: Path) -> list[Path]:
    """Every file under `root` (the YAML files and what they mount), `.git` left out."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and ".git" not in p.relative_to(root).parts)


def digest_of(root: Path) -> str:
    """A hash of the names and contents of every file under `root`: the YAML files and the
    configuration files services mount from it. Equal digests mean nothing to reload."""
    sha = hashlib.sha256()
    for path in tree_files(root):
        sha.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def tree_signature(root: Path) -> tuple:
    """Names, sizes and modification times of every file under `root`: cheap to take every
    second, and it changes whenever a file is edited, added or removed."""
    signature = []
    for path in tree_files(root):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while we looked; the next look sees it gone
            continue
        signature.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return tuple(signature)


def load_directory(root: Path) -> DesiredState:
    """Read, validate and cross-check every desired-state file under `root`."""
    if not root.is_dir():
        raise DesiredStateError([LoadError(str(root), 1, "", "desired-state directory not found")])
    errors: list[LoadError] = []
    parsed = [p for p in (_parse_file(root, path, errors) for path in desired_files(root)) if p]
    specs = [spec for p in parsed for spec in p.specs]
    errors += _check_duplicates(parsed) + _check_dependencies(parsed, specs)
    prune = _fleet_prune(parsed, errors)
    if errors:
        raise DesiredStateError(errors)
    return DesiredState(services={s.name: s for s in specs}, prune=prune, digest=digest_of(root))


def _display(root: Path, path: Path) -> str:
    """`desired_state/ai.yaml`: the same wherever Steward runs, and what a repo shows."""
    return str(Path(root.resolve().name) / path.relative_to(root))


def _parse_file(root: Path, path: Path, errors: list[LoadError]) -> _Parsed | None:
    shown = _display(root, path)
    try:
        document = parse(path.read_text(encoding="utf-8"))
    except (YamlSyntaxError, UnicodeDecodeError) as err:
        errors.append(LoadError(shown, getattr(err, "line", 1), "", str(err)))
        return None
    if document is None:
        document = LineDict()
    if not isinstance(document, LineDict):
        errors.append(LoadError(shown, 1, "", "a desired-state file must be a mapping "
                                              "with a 'services:' key"))
        return None
    top = LineDict()
    top.update({k: v for k, v in document.items() if not str(k).startswith("x-")})
    try:
        FileSchema().load(top)
    except ValidationError as err:
        errors += _to_load_errors(shown, document, (), err.messages, FileSchema)
        return None
    services = document.get("services") or LineDict()
    specs = [s for s in (_build_spec(shown, path.parent, name, document, errors)
                         for name in services) if s]
    return _Parsed(shown, document, specs)


def _build_spec(file: str, base: Path, name: Any, document: LineDict,
                errors: list[LoadError]) -> ServiceSpec | None:
    services = document["services"]
    node = services[name]
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        errors.append(LoadError(file, services.key_lines.get(name, 1), f"services.{name}",
                                f"invalid service name; use {NAME_RULE}"))
        return None
    if not isinstance(node, Mapping):
        errors.append(LoadError(file, services.key_lines[name], f"services.{name}",
                                "a service must be a mapping of keys such as image, category"))
        return None
    try:
        data = ServiceSchema().load(node)
    except ValidationError as err:
        errors += _to_load_errors(file, document, ("services", name), err.messages,
                                  ServiceSchema)
        return None
    spec = _spec_from(name, data, file, services.key_lines[name], base)
    writable = [i for i, v in enumerate(spec.volumes) if v.in_repo and not v.read_only]
    for index in writable:
        errors.append(LoadError(file, line_of(document, ["services", name, "volumes", index]),
                                f"services.{name}.volumes[{index}]",
                                f"{spec.volumes[index].in_repo} is inside the desired-state "
                                "directory; mount it read-only (add :ro): containers must "
                                "not write into the reviewed files"))
    return None if writable else spec


def _spec_from(name: str, data: dict, file: str, line: int, base: Path) -> ServiceSpec:
    defaults = CATEGORY_RESTART_DEFAULTS[data["category"]]
    restart = RestartPolicy(**{**defaults.__dict__, **data["restart_policy"]})
    ports = tuple(PortMapping(**p) for p in data["ports"])
    port = data.get("port", ports[0].host_port if ports else None)
    volumes = tuple(_volume(v, base) for v in data["volumes"])
    return ServiceSpec(
        name=name,
        display_name=data.get("display_name", name),
        category=data["category"],
        image=data["image"],
        restart=restart,
        command=tuple(data["command"]) if "command" in data else None,
        environment=tuple((k, v) for k, v in data["environment"]),
        ports=ports,
        port=port,
        volumes=volumes,
        files=_mounted_files(volumes, base),
        depends_on=tuple(data["depends_on"]),
        restart_with=tuple(data["restart_with"]),
        healthcheck=_healthcheck(data.get("healthcheck"), port),
        resources=Resources(memory_bytes=data["resources"].get("memory"),
                            cpus=data["resources"].get("cpus")),
        init=data["init"],
        stop_grace_period=data["stop_grace_period"],
        enabled=data["enabled"],
        source_file=file,
        source_line=line,
    )


def _mounted_files(volumes: tuple[VolumeMount, ...], root: Path) -> tuple[tuple[str, str], ...]:
    """A content digest of each (read-only) bind mount from the desired-state directory: an
    edited configuration file is drift, and recreates the services that mount it."""
    return tuple((v.target, content_digest(Path(v.source))) for v in volumes
                 if v.in_repo and Path(v.source).exists())


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's relative paths and file contents, in order
    (read in chunks; `.git` left out, as everywhere in the desired-state directory)."""
    sha = hashlib.sha256()
    files = tree_files(path) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            sha.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as handle:
            sha.update(hashlib.file_digest(handle, "sha256").digest())
    return sha.hexdigest()[:16]


def _volume(raw: dict, base: Path) -> VolumeMount:
    """A bind source is made absolute; one inside the desired-state directory also keeps its
    path relative to it, which is what the spec hash sees (so a checkout elsewhere, as
    `steward plan PATH` reads, hashes the same)."""
    if raw["kind"] != "bind":
        return VolumeMount(**raw)
    source = (base / os.path.expanduser(raw["source"])).resolve()
    root = base.resolve()
    in_repo = f"./{source.relative_to(root)}" if source.is_relative_to(root) else None
    return VolumeMount(**{**raw, "source": str(source)}, in_repo=in_repo)


def _healthcheck(raw: dict | None, port: int | None) -> HealthCheck | None:
    if raw is None:
        return None
    timing = {k: raw[k] for k in ("interval", "timeout", "start_period", "retries")}
    if "command" in raw:
        return HealthCheck(kind="command", command=tuple(raw["command"]), **timing)
    kind = "http" if "http" in raw else "tcp"
    probe = raw[kind]
    return HealthCheck(kind=kind, path=probe.get("path"), port=probe.get("port", port), **timing)


def _to_load_errors(file: str, document: LineDict, prefix: tuple, messages: Any,
                    schema: type) -> list[LoadError]:
    """Flatten marshmallow's nested messages into one error per field, with its line."""
    out: list[LoadError] = []
    for path, message in _flatten(messages, prefix):
        field_path = [p for p in path if p != "_schema"]
        if message == "Unknown field.":
            message = f"unknown key; allowed keys: {_allowed_keys(document, field_path, schema)}"
        elif message == "Missing data for required field.":
            message = "required key is missing"
        label = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in field_path)
        out.append(LoadError(file, line_of(document, field_path), label.replace(".[", "["),
                             message))
    return out


def _flatten(messages: Any, prefix: tuple) -> Iterable[tuple[tuple, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, prefix + (key,))
    elif isinstance(messages, list):
        for item in messages:
            yield from _flatten(item, prefix)
    else:
        yield prefix, str(messages)


def _allowed_keys(document: LineDict, path: list, schema: type) -> str:
    nested = schema()
    for step in path[2 if path[:1] == ["services"] else 0:-1]:
        field = nested.fields.get(step)
        if field is None or not hasattr(field, "schema"):
            break
        nested = field.schema
    return ", ".join(sorted(nested.fields))


def _check_duplicates(parsed: list[_Parsed]) -> list[LoadError]:
    seen: dict[str, ServiceSpec] = {}
    errors = []
    for spec in (s for p in parsed for s in p.specs):
        first = seen.setdefault(spec.name, spec)
        if first is not spec:
            errors.append(LoadError(spec.source_file, spec.source_line, f"services.{spec.name}",
                                    f"duplicate service name; already defined at "
                                    f"{first.source_file}:{first.source_line}"))
    return errors


def _check_dependencies(parsed: list[_Parsed], specs: list[ServiceSpec]) -> list[LoadError]:
    names = {s.name for s in specs}
    errors = []
    documents = {p.file: p.document for p in parsed}
    for spec in specs:
        for key in ("depends_on", "restart_with"):
            for index, dep in enumerate(getattr(spec, key)):
                if dep not in names:
                    line = line_of(documents[spec.source_file],
                                   ["services", spec.name, key, index])
                    errors.append(LoadError(spec.source_file, line,
                                            f"services.{spec.name}.{key}[{index}]",
                                            f"unknown service {dep!r}; known: "
                                            f"{', '.join(sorted(names)) or 'none'}"))
    known_edges = {s.name: s.dependencies for s in specs
                   if all(d in names for d in s.dependencies)}
    cycle = find_cycle(known_edges)
    if cycle:
        spec = next(s for s in specs if s.name == cycle[0])
        errors.append(LoadError(spec.source_file, spec.source_line,
                                f"services.{spec.name}.depends_on",
                                "dependency cycle: " + " -> ".join(cycle + [cycle[0]])))
    return errors


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one dependency cycle as a list of names, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(edges.get(name, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(edges):
        if name not in state and (found := visit(name)):
            return found
    return None


def _fleet_prune(parsed: list[_Parsed], errors: list[LoadError]) -> bool:
    settings = [(p.file, p.document) for p in parsed if "prune" in p.document]
    values = {bool(doc["prune"]) for _, doc in settings}
    if len(values) > 1:
        where = ", ".join(f"{f}:{d.key_lines['prune']}" for f, d in settings)
        file, doc = settings[-1]
        errors.append(LoadError(file, doc.key_lines["prune"], "prune",
                                f"files disagree on prune ({where}); set it in one file only"))
    return values == {True}
