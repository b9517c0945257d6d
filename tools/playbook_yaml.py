"""Playbook YAML as the guard reads it: safe, ansible's `!unsafe` and `!vault` tags, no duplicate keys."""

from __future__ import annotations

from typing import Any

import yaml

from aios.kernel.errors import InvalidSyscall


class Unsafe(str):
    """A `!unsafe` string: ansible never templates it."""


class _Loader(yaml.SafeLoader):
    """Safe YAML with ansible's `!unsafe` and `!vault` tags; duplicate keys are refused, not merged."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _tagged_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Unsafe:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, f"{node.tag} must tag a string", node.start_mark)
    return Unsafe(loader.construct_scalar(node))


_Loader.add_constructor("!unsafe", _tagged_scalar)
_Loader.add_constructor("!vault", _tagged_scalar)


def load_yaml(text: str, where: str) -> Any:
    """Parse YAML the way the guard sees it; a parse error names the file, line and column."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidSyscall(f"{where} is not valid YAML{at}: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise InvalidSyscall(f"{where} is not valid YAML: {e}") from e
