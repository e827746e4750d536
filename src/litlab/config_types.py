"""Every value the composed config passes to code, checked against the type hints of what it
builds, before anything is built: a ``_target_`` node's keys are its target's parameters
(``inspect.signature`` with the hints evaluated), the run-level switches are the fields of
``RunSwitches``. A key nothing takes, a class that does not exist, ``null`` where a value is
needed, a string where a boolean is (``"no"`` is true by truthiness), nan or inf where a number
is: one ``ConfigValueError`` naming key and value, instead of a traceback or a silent wrong run.
Ranges (a count >= 1, a positive rate) are ``litlab.validation.RULES``: hints do not say them."""

from __future__ import annotations

import collections.abc
import difflib
import importlib
import inspect
import math
import os
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from litlab.errors import ConfigValueError

# Top-level nodes that are config groups or Hydra's own: not run-level switches.
GROUPS = ("data", "model", "trainer", "logger", "callbacks", "paths", "hydra")
_UNKNOWN = object()  # a hint this checker does not judge: anything passes


@dataclass
class RunSwitches:
    """The run-level keys of ``conf/train.yaml`` that ``litlab.run`` reads, by type."""

    name: str
    seed: int | None
    train: bool
    test: bool
    ckpt_path: str | None
    steps_per_call: int
    optimized_metric: str | None
    optimized_metric_mode: Literal["min", "max"]


def check_types(cfg: DictConfig) -> list[str]:
    """Raise on the first value that does not fit; return the top-level keys nothing reads
    (for a warning: a user's key may be read by code of their own)."""
    switches = inspect.signature(RunSwitches, eval_str=True).parameters
    for key in switches:
        if cfg._get_node(key, validate_access=False) is not None:  # "in": false for ???
            check_value(key, value_at(cfg, key), switches[key])
    for path, node in target_nodes(cfg):
        check_node(path, node, locate(f"{path}._target_" if path else "_target_", node))
    return unread_top_level_keys(cfg, set(switches))


def target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Every node with a ``_target_`` and its dotted path, Hydra's own node and the
    ``paths`` folders aside."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            if not path and key in ("hydra", "paths"):
                continue
            child = node._get_node(key)
            if isinstance(child, DictConfig | ListConfig) and not child._is_missing():
                if child._is_none() or child._is_interpolation():
                    continue
                yield from target_nodes(node[key], f"{path}.{key}" if path else str(key))  # type: ignore[str-bytes-safe]  # str keys
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from target_nodes(item, f"{path}[{i}]")


def value_at(node: DictConfig, key: Any, path: str | None = None) -> Any:
    """The resolved value (``???`` and a broken interpolation are the user's to fix)."""
    shown = path or str(key)
    if node._get_node(key)._is_missing():  # type: ignore[union-attr]  # the key is there
        raise ConfigValueError(shown, "???", "must be set (it has no value)")
    try:
        return node[key]
    except OmegaConfBaseException as error:
        value = node._get_node(key)._value()  # type: ignore[union-attr]  # the key is there
        raise ConfigValueError(shown, value, str(error).splitlines()[0]) from None


def locate(key: str, node: DictConfig) -> Any:
    """The object a ``_target_`` names, or one line saying which part of the name is wrong."""
    target = value_at(node, "_target_", key)
    if not isinstance(target, str) or not target:
        raise ConfigValueError(key, target, "must be the dotted name of a class or function")
    parts = target.split(".")
    found: Any = None
    for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            found = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    else:
        raise ConfigValueError(key, target, f"no module named {parts[0]!r}")
    for j, part in enumerate(parts[i:], start=i):
        if not hasattr(found, part):
            owner = ".".join(parts[:j])
            close = difflib.get_close_matches(part, [n for n in dir(found) if n[0] != "_"], 1)
            hint = f" (did you mean {owner}.{close[0]}?)" if close else ""
            raise ConfigValueError(key, target, f"{owner} has no {part!r}{hint}")
        found = getattr(found, part)
    return found


def parameters_of(target: Any) -> dict[str, inspect.Parameter] | None:
    """The target's parameters with their hints evaluated (unevaluable hints left as
    strings, which pass); None where there is no signature to read."""
    for eval_str in (True, False):
        try:
            return dict(inspect.signature(target, eval_str=eval_str).parameters)
        except (NameError, TypeError, SyntaxError, AttributeError):
            continue
        except ValueError:
            return None
    return None


# Hydra's own keys of a node it instantiates, by what instantiate accepts.
HYDRA_KEYS: dict[str, Any] = {
    "_partial_": bool,
    "_recursive_": bool,
    "_convert_": Literal["none", "partial", "object", "all"] | None,
    "_args_": list,
}


def check_node(path: str, node: DictConfig, target: Any) -> None:
    for key, hint in HYDRA_KEYS.items():
        if node._get_node(key, validate_access=False) is not None:
            value = value_at(node, key, f"{path}.{key}")
            if not fits(value, hint) or (hint is bool and value is None):
                requirement = f"must be {describe(hint)}"
                raise ConfigValueError(f"{path}.{key}", shown(node, key), requirement)
    parameters = parameters_of(target)
    if parameters is None:
        return
    kinds = {p.kind for p in parameters.values()}
    takes_any = inspect.Parameter.VAR_KEYWORD in kinds
    named = {
        name: p for name, p in parameters.items()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }  # fmt: skip
    name = getattr(target, "__qualname__", str(target))
    shown_target = f"{getattr(target, '__module__', '')}.{name}".lstrip(".")
    for key in node:  # type: ignore[assignment]  # a str just below
        key = str(key)
        if key.startswith("_"):
            continue
        full = f"{path}.{key}" if path else key
        if key not in named:
            if takes_any:
                continue
            close = difflib.get_close_matches(key, list(named), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigValueError(
                full, shown(node, key), f"{shown_target} takes no argument {key!r}{hint}"
            )
        check_value(full, value_at(node, key, full), named[key])


def shown(node: DictConfig, key: Any) -> Any:
    value = node._get_node(key)._value()  # type: ignore[union-attr]  # the key is there
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def check_value(key: str, value: Any, parameter: inspect.Parameter) -> None:
    hint = parameter.annotation
    if hint is inspect.Parameter.empty or isinstance(hint, str):
        return
    if value is None and parameter.default is None:
        return  # a default of None is a hint's "| None", however the hint is written
    if fits(value, hint) is False:
        plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        raise ConfigValueError(key, plain, f"must be {describe(hint)}")


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as the config holds it) can be what ``hint`` asks for. Hints this
    does not know (a class of the user's, a TypeVar) accept anything."""
    if hint is Any or hint is object or isinstance(hint, typing.TypeVar | str):
        return True
    if OmegaConf.is_dict(value) and "_target_" in value:
        return True  # something instantiate builds: its own node is checked for itself
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if hint is None or hint is type(None):
        return value is None
    if value is None:
        return False
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if hint in (PurePath, os.PathLike) or (isinstance(hint, type) and issubclass(hint, PurePath)):
        return isinstance(value, str)
    base = origin or hint
    if base in (collections.abc.Callable, typing.Callable):
        return OmegaConf.is_dict(value) and "_partial_" in value  # a partial to call later
    if base in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        if not OmegaConf.is_list(value) and not isinstance(value, list | tuple):
            return False
        items = [a for a in args if a is not Ellipsis]
        return len(items) != 1 or all(fits(v, items[0]) for v in value)
    if base in (dict, collections.abc.Mapping):
        return OmegaConf.is_dict(value) or isinstance(value, dict)
    if isinstance(base, type) and base.__module__ != "builtins":
        return not isinstance(value, bool | int | float | str) or _primitive_subclass(base)
    return True


def _primitive_subclass(base: type) -> bool:
    return issubclass(base, int | float | str)


_SIMPLE = {bool: "true or false", int: "a whole number", float: "a finite number",
           str: "a string", type(None): "null"}  # fmt: skip


def _members(hint: Any) -> Iterator[Any]:
    """A union's members, nested unions and literals flattened (a literal's values as such)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(hint):
            yield from _members(arg)
    elif origin is Literal:
        yield from typing.get_args(hint)
    else:
        yield hint


def describe(hint: Any) -> str:
    """What a hint asks for, in the words of a config file."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        flat = list(_members(hint))
        literals = [a for a in flat if not isinstance(a, type) and a is not None]
        kinds = [a for a in flat if isinstance(a, type) or a is None]
        plain = [a for a in kinds if a in _SIMPLE or a is None]
        words = [describe(a) for a in kinds if a not in plain] if not (plain or literals) else []
        if literals:
            words.insert(0, "one of " + ", ".join(repr(a) for a in literals))
        words = [_SIMPLE[a] for a in plain if a is not type(None)] + words  # type: ignore[index]  # no None
        if type(None) in plain:
            words.append("null")
        return " or ".join(dict.fromkeys(words))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    base = origin or hint
    if base in (collections.abc.Callable, typing.Callable):
        return "a config with _target_ and _partial_: true"
    if base in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        items = [a for a in args if a is not Ellipsis]
        if len(items) != 1:
            return "a list"
        return f"a list of {describe(items[0]).removeprefix('a ').removeprefix('an ')}s"
    if isinstance(base, type) and issubclass(base, PurePath):
        return "a path"
    name = getattr(base, "__name__", str(base))
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} (a config with _target_)"


def unread_top_level_keys(cfg: DictConfig, switches: set[str]) -> list[str]:
    """Top-level keys that are neither a group, a switch, nor read by an interpolation."""
    raw = OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))  # type: ignore[misc]  # top-level keys are strs
    unread = []
    for key in cfg:
        key = str(key)
        if key in GROUPS or key in switches:
            continue
        if "${" + key not in raw:
            unread.append(key)
    return unread


def warn_unread(keys: list[str]) -> None:
    for key in keys:
        print(f"warning: {key} is read by nothing in the config (no _target_ takes it, and "
              "no interpolation uses it)", file=sys.stderr)  # fmt: skip
