"""The JSON Schema of the scan document (``schemas/camaudit-document-v1.schema.json``).

One description of the document: ``validate_document`` checks against it (``jsonschema``),
``camaudit import`` refuses what fails it, and docs/json-schema.md's field reference is
generated from it (scripts/gendocs.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .resources import data_dir

SCHEMA_FILE = "camaudit-document-v1.schema.json"
MESSAGE_MAX = 160
"""A departure's message is cut here: the offending value may be anything a file holds."""


@functools.cache
def schema() -> dict[str, Any]:
    """The shipped schema, parsed once."""
    return json.loads((data_dir("schemas") / SCHEMA_FILE).read_text(encoding="utf-8"))


@functools.cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: ValidationError) -> str:
    where = _where(error.absolute_path)
    if error.validator == "required":
        missing = next((name for name in error.validator_value
                        if isinstance(error.instance, dict) and name not in error.instance), "?")
        return f"{where}.{missing}: missing" if where else f"{missing}: missing"
    message = error.message
    if len(message) > MESSAGE_MAX:
        message = message[:MESSAGE_MAX] + "…"
    return f"{where or 'document'}: {message}"


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """An ``anyOf`` failure as the errors of the branch meant for the value's type (an
    object where ``{...} | null`` is allowed: what is wrong inside the object)."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
        typed = [errs for errs in branches.values()
                 if not any(e.validator in ("type", "const", "enum") and not e.relative_path for e in errs)]
        if len(typed) == 1:
            for sub in typed[0]:
                yield from _leaves(sub)
            return
    yield error


def _errors(doc: Any) -> Iterator[ValidationError]:
    for error in _validator().iter_errors(doc):
        yield from _leaves(error)


def validate_document(doc: Any) -> list[str]:
    """Every way ``doc`` departs from the schema, as ``where: what`` lines; empty when it conforms."""
    found = sorted(_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return [_describe(e) for e in found]


def first_departure(doc: Any) -> tuple[str, int] | None:
    """The first departure (in document order) and how many there are; None when ``doc`` conforms."""
    errors = validate_document(doc)
    return (errors[0], len(errors)) if errors else None
