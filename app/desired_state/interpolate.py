"""Compose-style variables in desired-state files: `${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `$VAR` and `$$`.

Values come from the process environment, then from a `.env` file beside the YAML files
(the environment wins, as in Compose). Unlike Compose, an unset `${VAR}` without a default
is an error, not an empty string: a typo must not start a database with an empty password.
Errors name the variable, never a value, so they are safe to show to every viewer.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from app.desired_state.yaml_lines import LineDict, LineList

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?P<value>.*)$")
#: The file the variables of a desired-state directory come from; keep it out of git.
ENV_FILE = ".env"


class InterpolationError(ValueError):
    """A variable is missing or a `${...}` is malformed; the message names no value."""


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """`text` with every variable replaced; `$$` is a literal `$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            end = _closing_brace(text, i + 2)
            out.append(_braced(text[i + 2:end], variables))
            i = end + 1
        elif (match := _NAME.match(text, i + 1)) is not None:
            out.append(_lookup(match.group(), variables))
            i = match.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` that closes the `${` before `start` (defaults may nest)."""
    depth = 1
    for index in range(start, len(text)):
        if text.startswith("${", index):
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise InterpolationError("unterminated ${...}: add the closing '}' (write $$ for a "
                             "literal $)")


def _braced(body: str, variables: Mapping[str, str]) -> str:
    match = _NAME.match(body)
    if match is None:
        raise InterpolationError(f"invalid variable reference ${{{_short(body)}}}: a name is "
                                 "letters, digits and '_', not starting with a digit")
    name, rest = match.group(), body[match.end():]
    if not rest:
        return _lookup(name, variables)
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            return _apply(name, operator, rest[len(operator):], variables)
    raise InterpolationError(f"invalid variable reference ${{{_short(body)}}}; use ${{{name}}}, "
                             f"${{{name}:-default}} or ${{{name}:?message}}")


def _apply(name: str, operator: str, word: str, variables: Mapping[str, str]) -> str:
    value = variables.get(name)
    unset = value is None or (operator.startswith(":") and value == "")
    if operator.endswith("-"):
        return substitute(word, variables) if unset else str(value)
    if operator.endswith("+"):
        return "" if unset else substitute(word, variables)
    if unset:
        why = substitute(word, variables) or "required"
        raise InterpolationError(f"variable {name} is not set: {why}")
    return str(value)


def _lookup(name: str, variables: Mapping[str, str]) -> str:
    if name not in variables:
        raise InterpolationError(f"variable {name} is not set; set it in Steward's environment "
                                 f"or in {ENV_FILE}, or write ${{{name}:-}} to allow it empty")
    return variables[name]


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def interpolate_tree(node: Any, variables: Mapping[str, str],
                     report: Callable[[tuple, str], None], path: tuple = ()) -> Any:
    """A copy of a parsed YAML tree with every string value interpolated, line numbers kept.
    Each failure goes to `report(path, message)`, so one load lists every missing variable."""
    if isinstance(node, LineDict):
        copy = LineDict()
        copy.line, copy.key_lines, copy.value_lines = node.line, node.key_lines, node.value_lines
        for key, value in node.items():
            copy[key] = interpolate_tree(value, variables, report, path + (key,))
        return copy
    if isinstance(node, LineList):
        items = LineList()
        items.line, items.item_lines = node.line, node.item_lines
        items.extend(interpolate_tree(v, variables, report, path + (i,))
                     for i, v in enumerate(node))
        return items
    if isinstance(node, str) and "$" in node:
        try:
            return substitute(node, variables)
        except InterpolationError as err:
            report(path, str(err))
    return node


def read_env_file(path: Path) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """The values and errors of an env file (see `parse_env_text`); none when it is absent."""
    if not path.is_file():
        return {}, []
    return parse_env_text(path.read_text(encoding="utf-8"))


def parse_env_text(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """`NAME=value` lines (optionally `export`, quoted, with `#` comments) and the errors as
    (line, message); a malformed line's text is not echoed, since it may hold a secret."""
    values: dict[str, str] = {}
    errors: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            errors.append((number, "not of the form NAME=value (the line is not shown)"))
            continue
        values[match.group("key")] = _unquote(match.group("value"))
    return values, errors


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return re.sub(r"\s+#.*$", "", value)


def variables_for(root: Path, environ: Mapping[str, str] | None = None
                  ) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """The variables for the files under `root`: `.env` overridden by the environment."""
    from_file, errors = read_env_file(root / ENV_FILE)
    return {**from_file, **(os.environ if environ is None else environ)}, errors
