"""A safe YAML loader that remembers the line of every key and list item.

Marshmallow reports errors by field path; this module turns such a path back into the
line an operator has to edit, which is what makes a validation error actionable.
"""
from __future__ import annotations

from typing import Any, Sequence

import yaml

from app.desired_state import sealed


class LineDict(dict):
    """A mapping that knows the line of itself and of each of its keys and values."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}


class LineList(list):
    """A sequence that knows the line of itself and of each item."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.item_lines: list[int] = []


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        self.flatten_mapping(node)
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in mapping:
                raise YamlSyntaxError(
                    key_node.start_mark.line + 1,
                    f"duplicate key {key!r} (first at line {mapping.key_lines[key]})",
                )
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
            mapping.value_lines[key] = value_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        items = LineList()
        items.line = node.start_mark.line + 1
        for child in node.value:
            items.append(self.construct_object(child, deep=True))
            items.item_lines.append(child.start_mark.line + 1)
        return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                            _LineLoader.construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                            _LineLoader.construct_sequence)


def _construct_sealed(loader: _LineLoader, node: yaml.Node) -> sealed.Sealed:
    """`!age |` and its armored ciphertext; anything else there is an error at its line."""
    try:
        return sealed.from_yaml(node.value if isinstance(node, yaml.ScalarNode) else None)
    except ValueError as err:
        raise YamlSyntaxError(node.start_mark.line + 1, str(err)) from None


_LineLoader.add_constructor(sealed.TAG, _construct_sealed)


#: Bounds on one document, checked on the node graph before any value is built: an alias
#: bomb (`a: &a [*b, *b, ...]`) is a few hundred bytes of text and billions of values.
MAX_NODES = 100_000
MAX_DEPTH = 64


def parse(text: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse YAML text; syntax errors and documents over the bounds become `YamlSyntaxError`
    with a 1-based line."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, max_nodes, max_depth)
        return loader.construct_document(node)
    except YamlSyntaxError:
        raise
    except RecursionError:
        raise YamlSyntaxError(1, f"nested too deeply: more than {max_depth} levels") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        message = f"invalid YAML: {err.problem or err}"
        if err.context and err.context_mark and err.context_mark.line + 1 != line:
            message += f" ({err.context} at line {err.context_mark.line + 1})"
        raise YamlSyntaxError(line, message) from None
    except yaml.YAMLError as err:
        raise YamlSyntaxError(1, f"invalid YAML: {err}") from None
    finally:
        loader.dispose()


def _check_size(root: yaml.Node, max_nodes: int, max_depth: int) -> None:
    """Count the values the document would expand to (an alias counts as often as it is
    used) and its depth, in time proportional to its distinct nodes."""
    sizes: dict[int, int] = {}
    # Children before parents, each node once: an iterative walk, so depth cannot overflow.
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, expanded = stack.pop()
        if depth > max_depth:
            raise YamlSyntaxError(node.start_mark.line + 1,
                                  f"nested too deeply: more than {max_depth} levels")
        children = _children(node)
        if expanded or not children:
            size = 1 + sum(sizes[id(c)] for c in children)
            if size > max_nodes:
                raise YamlSyntaxError(node.start_mark.line + 1,
                                      f"expands to more than {max_nodes:,} values (aliases "
                                      "repeat what they point to); refusing to build it")
            sizes[id(node)] = size
            continue
        if id(node) in sizes:
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def line_of(node: Any, path: Sequence[Any], *, fallback: int = 1) -> int:
    """The line of the deepest element of `path` that exists under `node`.

    A missing key has no line of its own, so it is reported at its parent's line.
    """
    line = getattr(node, "line", fallback) or fallback
    for step in path:
        if isinstance(node, LineDict) and step in node:
            line = node.value_lines[step] if not isinstance(node[step], (LineDict, LineList)) \
                else node.key_lines[step]
            node = node[step]
        elif isinstance(node, LineDict) and step in node.key_lines:
            line = node.key_lines[step]
            break
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line
