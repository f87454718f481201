"""Load `desired_state/*.yaml` into one `DesiredState`, or report every error at once.

Loading is all-or-nothing: the caller either gets a complete, valid state or a
`DesiredStateError` listing each problem as `file:line: field: message`, and the store keeps
the last good state. Nothing here touches the store or Docker, so `steward validate` can use it
as a pre-commit hook.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from marshmallow import ValidationError

from app.desired_state.convert import Problems, declared_network, to_spec
from app.desired_state.host_access import HostPolicy
from app.desired_state.interpolate import ENV_FILE, interpolate_tree, variables_for
from app.desired_state.schema import (
    NAME_PATTERN,
    NAME_RULE,
    REFUSED_KEYS,
    FileSchema,
    ServiceFileSchema,
)
from app.desired_state.spec import DesiredState, NetworkAttachment, ServiceSpec
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


#: Largest desired-state file read; a bigger one is refused before it is read.
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LoadSettings:
    """What the operator decides about loading: the instance (it names the images Steward
    builds), the variables (default: the process environment), the host-access policy and
    the size bound."""

    instance: str = "steward"
    environ: Mapping[str, str] | None = None
    policy: HostPolicy = HostPolicy()
    max_file_bytes: int = MAX_FILE_BYTES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoadSettings:
        try:
            policy = HostPolicy.from_settings(config["ALLOWED_HOST_PATHS"],
                                              config["HOST_PATHS"], config["HOST_ACCESS"])
        except ValueError as err:
            raise SystemExit(str(err)) from None
        return cls(instance=config["INSTANCE"], policy=policy,
                   max_file_bytes=config["MAX_FILE_BYTES"])


def load_directory(root: Path, settings: LoadSettings = LoadSettings(), **changes: Any
                   ) -> DesiredState:
    """Read, validate and cross-check every desired-state file under `root`.

    `${VAR}` references are filled from the settings' variables over `root/.env`;
    `changes` override single settings (`instance=`, `environ=`, `policy=`).
    """
    settings = replace(settings, **changes)
    if not root.is_dir():
        raise DesiredStateError([LoadError(str(root), 1, "", "desired-state directory not found")])
    variables, env_errors = variables_for(root, settings.environ)
    errors = [LoadError(_display(root, root / ENV_FILE), line, "", message)
              for line, message in env_errors]
    documents = [d for d in (_parse_file(root, path, variables, settings.max_file_bytes, errors)
                             for path in desired_files(root)) if d]
    networks = _declared_networks(documents, errors)
    parsed = [_Parsed(file, document, _build_specs(file, base, root, document, settings,
                                                   networks, errors))
              for file, base, document in documents]
    specs = [spec for p in parsed for spec in p.specs]
    errors += _check_duplicates(parsed) + _check_dependencies(parsed, specs)
    prune = _fleet_prune(parsed, errors)
    if errors:
        raise DesiredStateError(errors)
    return DesiredState(services={s.name: s for s in specs}, prune=prune, digest=digest_of(root))


def _display(root: Path, path: Path) -> str:
    """`desired_state/ai.yaml`: the same wherever Steward runs, and what a repo shows."""
    return str(Path(root.resolve().name) / path.relative_to(root))


def _parse_file(root: Path, path: Path, variables: Mapping[str, str], max_bytes: int,
                errors: list[LoadError]) -> tuple[str, Path, LineDict] | None:
    """(shown name, directory, interpolated document) of one file, or None with errors."""
    shown = _display(root, path)
    size = path.stat().st_size
    if size > max_bytes:
        errors.append(LoadError(shown, 1, "", f"the file is {size:,} bytes, over the limit of "
                                              f"{max_bytes:,} (STEWARD_MAX_FILE_BYTES); "
                                              "split it or raise the limit"))
        return None
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
    found = len(errors)
    document = interpolate_tree(document, variables, lambda where, message: errors.append(
        LoadError(shown, line_of(document, list(where)), _label(list(where)), message)))
    top = LineDict()
    top.update({k: v for k, v in document.items() if not str(k).startswith("x-")})
    try:
        FileSchema().load(top)
    except ValidationError as err:
        errors += _to_load_errors(shown, document, (), err.messages, FileSchema)
        return None
    return None if len(errors) > found else (shown, path.parent, document)


def _declared_networks(documents: list[tuple[str, Path, LineDict]],
                       errors: list[LoadError]) -> dict[str, NetworkAttachment]:
    """The top-level networks of every file; a name declared twice must say the same."""
    networks: dict[str, NetworkAttachment] = {}
    for file, _, document in documents:
        declared = document.get("networks") or {}
        for name, raw in declared.items():
            network = declared_network(name, FileSchema().fields["networks"].deserialize(
                {name: raw})[name])
            if networks.setdefault(name, network) != network:
                errors.append(LoadError(file, declared.key_lines[name], f"networks.{name}",
                                        "declared differently in another file; declare "
                                        "it once"))
    return networks


def _build_specs(file: str, base: Path, root: Path, document: LineDict,
                 settings: LoadSettings, networks: Mapping[str, NetworkAttachment],
                 errors: list[LoadError]) -> list[ServiceSpec]:
    services = document.get("services") or LineDict()
    specs = (_build_spec(file, base, root, name, document, settings, networks, errors)
             for name in services)
    return [s for s in specs if s]


def _build_spec(file: str, base: Path, root: Path, name: Any, document: LineDict,
                settings: LoadSettings, networks: Mapping[str, NetworkAttachment],
                errors: list[LoadError]) -> ServiceSpec | None:
    services = document["services"]
    node = services[name]
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        errors.append(LoadError(file, services.key_lines.get(name, 1), f"services.{name}",
                                f"invalid service name; use {NAME_RULE}"))
        return None
    if not isinstance(node, Mapping):
        errors.append(LoadError(file, services.key_lines[name], f"services.{name}",
                                "a service must be a mapping of keys such as image, category"))
        return None
    refused = [LoadError(file, line_of(document, ["services", name, key]),
                         f"services.{name}.{key}", why)
               for key, why in REFUSED_KEYS.items() if key in node]
    try:
        data = ServiceFileSchema().load({k: v for k, v in node.items() if k not in REFUSED_KEYS})
    except ValidationError as err:
        errors += refused + _to_load_errors(file, document, ("services", name), err.messages,
                                            ServiceFileSchema)
        return None
    problems = Problems(settings.policy.refusals(data, base, root))
    if problems:  # nothing the policy refuses is read or hashed
        data = {**data, "build": None, "env_file": []} if "build" in data else \
            {**data, "env_file": []}
    spec = to_spec(name, data, file=file, line=services.key_lines[name], base=base, root=root,
                   instance=settings.instance, networks=networks, problems=problems)
    errors += refused + [LoadError(file, line_of(document, ["services", name, *path]),
                                   _label(["services", name, *path]), message)
                         for path, message in problems]
    writable = [i for i, v in enumerate(spec.volumes) if v.in_repo and not v.read_only]
    for index in writable:
        errors.append(LoadError(file, line_of(document, ["services", name, "volumes", index]),
                                f"services.{name}.volumes[{index}]",
                                f"{spec.volumes[index].in_repo} is inside the desired-state "
                                "directory; mount it read-only (add :ro): containers must "
                                "not write into the reviewed files"))
    return None if writable or problems or refused else spec


def _label(path: list) -> str:
    label = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path)
    return label.replace(".[", "[")


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
        out.append(LoadError(file, line_of(document, field_path), _label(field_path), message))
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
    errors += _check_conditions(documents, specs)
    known_edges = {s.name: s.dependencies for s in specs
                   if all(d in names for d in s.dependencies)}
    cycle = find_cycle(known_edges)
    if cycle:
        spec = next(s for s in specs if s.name == cycle[0])
        errors.append(LoadError(spec.source_file, spec.source_line,
                                f"services.{spec.name}.depends_on",
                                "dependency cycle: " + " -> ".join(cycle + [cycle[0]])))
    return errors


def _check_conditions(documents: Mapping[str, LineDict],
                      specs: list[ServiceSpec]) -> list[LoadError]:
    """`condition: service_healthy` needs a dependency with a health check, as in Compose."""
    by_name = {s.name: s for s in specs}
    errors = []
    for spec in specs:
        for dependency in spec.conditions:
            target = by_name.get(dependency.service)
            if dependency.condition == "service_healthy" and target is not None \
                    and target.healthcheck is None:
                line = line_of(documents[spec.source_file],
                               ["services", spec.name, "depends_on", dependency.service])
                errors.append(LoadError(
                    spec.source_file, line, f"services.{spec.name}.depends_on",
                    f"{dependency.service} has no healthcheck, so service_healthy could never "
                    "be met; give it a healthcheck or use service_started"))
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
