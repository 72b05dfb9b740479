"""DeviceSpec <-> plain dict (JSON), for the state file the lab runner hands the emulator.

``spec_to_dict`` is ``dataclasses.asdict`` (tuples become lists); ``spec_from_dict``
rebuilds the frozen dataclasses from the type hints in ``auditor.lab.spec``, so fields
added to the spec later need no change here. Unknown keys are an error: the runner
and the emulator come from the same checkout, a mismatch is a bug.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from .. import spec as spec_mod
from ..spec import DeviceSpec


def spec_to_dict(spec: DeviceSpec) -> dict[str, Any]:
    """JSON-ready dict of ``spec``."""
    return dataclasses.asdict(spec)


def spec_from_dict(data: dict[str, Any]) -> DeviceSpec:
    """Inverse of :func:`spec_to_dict`; raises ``ValueError`` naming the bad key."""
    value = _build(DeviceSpec, data, "spec")
    assert isinstance(value, DeviceSpec)
    return value


def _build(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object for {tp.__name__}")
        hints = typing.get_type_hints(tp, vars(spec_mod))
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)} for {tp.__name__}")
        kwargs = {k: _build(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{where}: {exc}") from exc
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            return _build(arg, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where}: expected a list")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_build(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        return dict(value)
    return value
