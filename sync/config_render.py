"""The configuration file read the way dbt reads `profiles.yml`: YAML first, then each string
value rendered with Jinja in a sandbox whose only function is `env_var` (its value is inserted as
text, never read as YAML). A key written twice is an error naming both lines.
"""
from __future__ import annotations

import operator
import os
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sync.errors import ConfigError

# Largest text or list a template may build with `*`, largest exponent of `**`: a config value
# is short, and `{{ 'x' * 10**10 }}` would otherwise take the machine's memory.
MAX_REPEAT = 100_000
MAX_EXPONENT = 1_000
_TEMPLATE_MARKS = ("{{", "{%", "{#")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKey(Exception):
    """(key, line first written, line written again)."""


class _UnreadableScalar(yaml.constructor.ConstructorError):
    """A tagged scalar PyYAML's constructor cannot read (its mark is the value's own line)."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:   # a scalar key: always hashable
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):
        """A tagged scalar PyYAML cannot read (`!!bool x`, `!!int x`) is a YAMLError with its line."""
        try:
            return super().construct_object(node, deep=deep)
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError):
            if not isinstance(node, yaml.ScalarNode):
                raise
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _UnreadableScalar(None, None, f"{node.value!r} is not a valid {tag}", node.start_mark) from None


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox without its globals (no range, cycler, joiner, lipsum, dict,
    namespace) and with `*` and `**` bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise jinja2.sandbox.SecurityError(f"exponent {right} is too large")
            return operator.pow(left, right)
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_REPEAT:
                    raise jinja2.sandbox.SecurityError(f"the result would be longer than {MAX_REPEAT}")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


def key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def read_document(text: str, file: str) -> Any:
    """The YAML document of `text`; a malformed one or a duplicate key is one ConfigError line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except _DuplicateKey as dup:
        key, first, again = dup.args
        raise ConfigError(file, f"line {again}", f"duplicate key {key!r} (first written at line "
                                                 f"{first}); write each key once") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = ""
        near = _line(text, mark.line) + _line(text, mark.line - 1) if mark is not None else ""
        if not isinstance(exc, _UnreadableScalar) and any(m in near for m in _TEMPLATE_MARKS):
            hint = " (a value holding {{ ... }} must be quoted: key: \"{{ env_var('NAME') }}\")"
        raise ConfigError(file, where, f"malformed YAML: {problem}{hint}") from None


def _line(text: str, index: int) -> str:
    lines = text.splitlines()
    return lines[index] if 0 <= index < len(lines) else ""


def render_document(data: Any, file: str) -> tuple[Any, dict[tuple, list[tuple[str, str]]]]:
    """`data` with its template values rendered (not mapping keys), and per rendered key path the
    env_var() calls it made as (name, value) pairs; a failure is a ConfigError naming the key."""
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    origins: dict[tuple, list[tuple[str, str]]] = {}

    def render(value: str, path: tuple) -> str:
        calls: list[tuple[str, str]] = []

        def env_var(name: Any = None, default: Any = None) -> str:
            if not isinstance(name, str) or not name:
                raise ConfigError(file, key_path(path), "template error: env_var() takes the variable's name "
                                                        "as text, e.g. env_var('NAME')")
            found = os.environ.get(name)
            if found is None:
                if default is None:
                    raise ConfigError(file, key_path(path), f"environment variable {name} is not set (set "
                                                            f"it, or give a default: env_var('{name}', '...'))")
                found = str(default)
            calls.append((name, found))
            return found

        try:
            result = env.from_string(value).render(env_var=env_var)
        except ConfigError:   # env_var()'s own line
            raise
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(file, key_path(path), f"template error: {exc.message}") from None
        except (jinja2.UndefinedError, jinja2.sandbox.SecurityError) as exc:
            raise ConfigError(file, key_path(path), f"template error: {_one_line(exc).rstrip('.')} "
                                                    "(only env_var('NAME'[, 'default']) is available)") from None
        except Exception as exc:   # a template's own mistake (1/0, 'a' + 1, ...): still the user's
            raise ConfigError(file, key_path(path), f"template error: {type(exc).__name__}: {_one_line(exc)}") from None
        origins[path] = calls
        return result

    def walk(node: Any, path: tuple, stack: frozenset) -> Any:
        if isinstance(node, (dict, list)):
            if id(node) in stack:
                raise ConfigError(file, key_path(path), "a YAML alias refers to a value that contains it")
            stack = stack | {id(node)}
            if isinstance(node, dict):
                return {key: walk(value, path + (key,), stack) for key, value in node.items()}
            return [walk(value, path + (i,), stack) for i, value in enumerate(node)]
        if isinstance(node, str) and any(mark in node for mark in _TEMPLATE_MARKS):
            return render(node, path)
        return node

    return walk(data, (), frozenset()), origins


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
