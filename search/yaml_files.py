"""YAML files in and out: safe_load only, bounded, written atomically.

A config, study or ablation file may come from anyone. PyYAML's ``safe_load``
never runs code (``!!python`` tags are refused), but an alias bomb (a 1 KB file
whose anchors expand to millions of values) or thousands of nested brackets can
still exhaust memory or the stack. Files are therefore composed first, measured
without expanding aliases, and only then turned into Python values.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from search.errors import SearchError

__all__ = ["read_yaml", "write_yaml_atomic", "MAX_YAML_VALUES", "MAX_YAML_DEPTH", "MAX_YAML_BYTES"]

MAX_YAML_VALUES = 100_000  # after alias expansion; a study file holds a few hundred
MAX_YAML_DEPTH = 40
MAX_YAML_BYTES = 10_000_000


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; every problem is a SearchError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SearchError(f"{path}: file not found.")
    text = read_text(path, what="YAML")
    raw = _load(text, str(path))
    if not isinstance(raw, dict):
        raise SearchError(f"{path}: expected a YAML mapping at the top; got {type(raw).__name__}.")
    return raw


def read_text(path: Path, *, what: str) -> str:
    """The file as UTF-8 text, refusing binary files and files too large to be settings."""
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise SearchError(f"{path}: {size:,} bytes is too large for a {what} file (at most "
                              f"{MAX_YAML_BYTES:,}).")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SearchError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); a {what} file must be plain UTF-8 text.") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise SearchError(f"{path}: cannot read it ({exc.strerror}).") from None


def _load(text: str, source: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SearchError(f"{source}{where}: not valid YAML ({problem}).") from None
    except RecursionError:
        raise SearchError(f"{source}: nested too deeply to read (at most {MAX_YAML_DEPTH} levels)."
                          ) from None
    finally:
        loader.dispose()


def _check_size(root: yaml.Node, source: str) -> None:
    """Count values as if aliases were expanded, without expanding them (memoised per node)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_YAML_DEPTH:
            raise SearchError(f"{source}:{node.start_mark.line + 1}: nested deeper than "
                              f"{MAX_YAML_DEPTH} levels; a settings file is never that deep.")
        if id(node) in sizes:
            return sizes[id(node)]
        children = _children(node)
        sizes[id(node)] = 1 + sum(size(child, depth + 1) for child in children)
        if sizes[id(node)] > MAX_YAML_VALUES:
            raise SearchError(f"{source}: its anchors and aliases expand to more than "
                              f"{MAX_YAML_VALUES:,} values; write the values out instead.")
        return sizes[id(node)]

    size(root, 0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def write_yaml_atomic(path: Path, content: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(content, f, sort_keys=False, default_flow_style=None)
    os.replace(tmp, path)
