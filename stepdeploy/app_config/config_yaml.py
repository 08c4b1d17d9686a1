"""Reading stepdeploy.yml's YAML without trusting it.

The file comes from an application repository: whoever can push to it writes it. The reader
refuses, as a ConfigurationError that names the file and where:

- a file larger than ``MAX_CONFIG_BYTES``;
- a key written twice in one mapping (YAML would keep the last one silently);
- nesting deeper than ``MAX_DEPTH``, more than ``MAX_ALIASES`` aliases, or a document that expands
  to more than ``MAX_NODES`` values through aliases (the "billion laughs");
- integers longer than ``MAX_NUMBER_DIGITS`` digits;
- strings with NUL, other control characters or bidirectional controls (U+202A-U+202E,
  U+2066-U+2069), which make a value read differently from what it is.

Everything else about the file (known keys, types, values) is the model's job (target_config.py).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from stepdeploy.app_config.config_text import MAX_CONFIG_BYTES, bad_character
from stepdeploy.errors import ConfigurationError

MAX_DEPTH = 16
MAX_ALIASES = 64
MAX_NODES = 10_000
MAX_NUMBER_DIGITS = 32
MAX_STRING_CHARS = 4096

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_DIGITS = re.compile(r"[0-9a-fA-F]")


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark: Any = None, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and bounds depth, aliases and numbers; each refusal
    names the key path where it happened."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._parts: list[str] = []
        self._aliases = 0
        self._paths: dict[int, str] = {}

    def _where(self, node: Any = None) -> str:
        if node is not None and id(node) in self._paths:
            return self._paths[id(node)]
        return _path(self._parts)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if isinstance(index, yaml.ScalarNode):
            label: str | None = str(index.value)
        elif isinstance(index, int) and not isinstance(index, bool):
            label = f"[{index}]"
        else:
            label = None
        if label is not None:
            self._parts.append(label)
        try:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _Refused(
                        f"more than {MAX_ALIASES} aliases (*name); expected a small configuration file",
                        self.peek_event().start_mark, self._where(),
                    )
            if len(self._parts) > MAX_DEPTH:
                raise _Refused(
                    f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark, self._where()
                )
            node = super().compose_node(parent, index)
            self._paths.setdefault(id(node), self._where())
            return node
        finally:
            if label is not None:
                self._parts.pop()

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    if key in seen:
                        raise _Refused(
                            f"key {key!r} is written twice (first at line {seen[key].line + 1}); "
                            "expected each key once",
                            key_node.start_mark,
                            _path([*filter(None, [self._where(node)]), str(key)]).removeprefix("(top level)."),
                        )
                    seen[key] = key_node.start_mark
                except TypeError:
                    continue  # an unhashable key: SafeConstructor refuses it below
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> Any:
        self._bound_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> Any:
        self._bound_number(node)
        return super().construct_yaml_float(node)

    def construct_undefined(self, node: Any) -> Any:
        raise _Refused(
            f"the tag {node.tag!r} is not allowed; expected plain YAML values", node.start_mark, self._where(node)
        )

    def _bound_number(self, node: Any) -> None:
        if len(_DIGITS.findall(str(node.value))) > MAX_NUMBER_DIGITS:
            raise _Refused(
                f"a number of more than {MAX_NUMBER_DIGITS} digits; expected a small number",
                node.start_mark, self._where(node),
            )


StrictLoader.add_constructor(_INT_TAG, StrictLoader.construct_yaml_int)
StrictLoader.add_constructor(_FLOAT_TAG, StrictLoader.construct_yaml_float)
StrictLoader.add_constructor(None, StrictLoader.construct_undefined)


def _path(parts: list[str]) -> str:
    path = ""
    for part in parts:
        path += part if part.startswith("[") else (f".{part}" if path else part)
    return path or "(top level)"


def check_strings(data: Any, file: str) -> None:
    """Every key and string value printable (no NUL, controls, bidi), bounded in length and in count."""
    budget = [MAX_NODES]

    def walk(value: Any, parts: list[str]) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigurationError(
                f"{file}: {_path(parts)}: the file expands to more than {MAX_NODES} values (aliases); "
                "expected a small configuration file"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigurationError(f"{file}: {_path(parts)}: expected text keys; got {key!r}")
                bad = bad_character(key)
                if bad:
                    raise ConfigurationError(f"{file}: {_path(parts)}: a key holds {bad}; expected printable text")
                walk(item, [*parts, key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, [*parts, f"[{index}]"])
        elif isinstance(value, str):
            bad = bad_character(value, multiline=True)
            if bad:
                raise ConfigurationError(f"{file}: {_path(parts)}: holds {bad}; expected printable text")
            if len(value) > MAX_STRING_CHARS:
                raise ConfigurationError(
                    f"{file}: {_path(parts)}: {len(value)} characters; expected at most {MAX_STRING_CHARS}"
                )

    walk(data, [])


def load_config_yaml(text: str | bytes, file: str) -> Any:
    """The file's data, or ConfigurationError naming the file and what is wrong where."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_CONFIG_BYTES:
        raise ConfigurationError(f"{file}: the file is {size} bytes; expected at most {MAX_CONFIG_BYTES}")
    try:
        data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise ConfigurationError(f"{file}: {exc.path or '(top level)'}: {exc.message}{_at(exc.mark)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc
        where = _at(mark)
        position = getattr(exc, "position", None)  # a reader error (a character YAML does not allow)
        if not where and position is not None:
            where = f" at character {position}"
        raise ConfigurationError(f"{file}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigurationError(f"{file}: nesting too deep; expected at most {MAX_DEPTH} levels") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise ConfigurationError(f"{file}: a value YAML cannot read: {str(exc)[:200]}") from None
    check_strings(data, file)
    return data
