"""The base of every typed JSON record: pydantic models, the kind/version header, load/save, the atomic writer.

A :class:`Record` is a pydantic model of one part of a JSON document; a :class:`Document` is a whole file,
``{"schema": KIND, "schema_version": VERSION, ...fields}``. Readers refuse another kind or version, or a
missing or mistyped field, with a :class:`SchemaError` naming the file, the kind and the supported
versions, instead of guessing its shape. :func:`load_document` reads any document by its kind.

Contracts kept from the record classes before pydantic (so that every shipped file reads back and
writes out with the same numbers):

- unknown keys: a record whose ``model_config`` has ``extra="allow"`` keeps them (they come back in
  :meth:`Record.to_dict`); every other record refuses them (``extra="forbid"``);
- an optional field (default ``None``) is left out of :meth:`Record.to_dict` when None, unless made
  with :func:`nullable` (always written, null or not) or :func:`null_if_set` (written when it was given);
- ``to_dict`` is ``model_dump(mode="json")`` with those rules: plain JSON types only (tuples as lists).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer
from pydantic.fields import FieldInfo

from modic_core.errors import InputError

__all__ = ["SchemaError", "sha256_file", "write_json_atomic", "nullable", "null_if_set", "Record", "Document", "load_document"]

HEADER_KEYS = ("schema", "schema_version")
_WRITE_NULL = "write_null"
_NULL_IF_SET = "null_if_set"
R = TypeVar("R", bound="Record")
D = TypeVar("D", bound="Document")


class SchemaError(InputError):
    """A JSON file of this program has another kind or version, or lacks a required field.

    A ``ValueError`` (via :class:`~modic_core.errors.InputError`), so the dashboard shows its
    message instead of a traceback.
    """


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    """numpy scalars and arrays, and paths, as plain JSON values; anything else is refused (TypeError)."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def write_json_atomic(obj: Any, path: str | Path, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON through a temporary file in the same folder, then rename it into place.

    The one JSON writer of the project. NaN and +-inf are refused (``ValueError``; JSON has no such
    numbers: write None for an undefined value); numpy scalars/arrays and paths are written as plain
    values. On any error the file at ``path`` is left as it was and no temporary file remains.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # unique: parallel runs may write the same file
    try:
        tmp.write_text(json.dumps(obj, indent=indent, default=_json_default, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def nullable(**kwargs: Any) -> Any:
    """An optional field that is written as null when None (e.g. a CI that could not be computed)."""
    return Field(default=None, json_schema_extra={_WRITE_NULL: True}, **kwargs)


def null_if_set(**kwargs: Any) -> Any:
    """An optional field written as null when it was given as None (a writer that always writes the key),
    and left out when it was not given (older files without the key read back and write out unchanged)."""
    return Field(default=None, json_schema_extra={_NULL_IF_SET: True}, **kwargs)


def _omitted_when_none(info: FieldInfo, *, was_set: bool) -> bool:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if info.default is not None or extra.get(_WRITE_NULL):
        return False
    return not (extra.get(_NULL_IF_SET) and was_set)


_TYPE_WORDS = {"int": "int", "float": "float", "string": "str", "bool": "bool", "dict": "an object",
               "model": "an object", "list": "a list", "tuple": "a list"}


def _place(loc: tuple[Any, ...], data: Any, *, missing: bool = False) -> str:
    """The dotted place of an error in the input ``data``: the parts of pydantic's ``loc`` that are its keys or
    indices (the union members and validator names pydantic adds are left out); ``missing``: the last part is a
    key absent from the input."""
    parts, here = [], data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(here, Mapping) and (part in here or (missing and last)):
            parts.append(str(part))
            here = here.get(part)
        elif isinstance(here, (list, tuple)) and isinstance(part, int) and 0 <= part < len(here):
            parts.append(str(part))
            here = here[part]
    return ".".join(parts)


def _error_text(exc: ValidationError, data: Any) -> str:
    """The first problems of a pydantic error as short phrases naming the place, e.g. "'a.b' should be int, found str"
    (the members of a union merged: "'a' should be int or str, found complex")."""
    expected: dict[str, list[str]] = {}
    found: dict[str, str] = {}
    other: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        kind = err["type"]
        where = _place(err["loc"], data, missing=kind == "missing")
        if kind == "missing":
            other.setdefault(where, f"missing required field '{where}'")
        elif kind == "extra_forbidden":
            other.setdefault(where, f"unexpected field '{where}'")
        else:
            word = next((w for k, w in _TYPE_WORDS.items() if kind.startswith(f"{k}_")), None)
            if word:
                expected.setdefault(where, []).append(word)
                found[where] = type(err["input"]).__name__
            else:
                other.setdefault(where, f"'{where}': {err['msg']}")
    parts = [*other.values(), *(f"'{w}' should be {' or '.join(dict.fromkeys(e))}, found {found[w]}"
                                for w, e in expected.items() if w not in other)]
    more = len(parts) - 3
    return "; ".join(parts[:3]) + (f" (and {more} more)" if more > 0 else "")


class Record(BaseModel):
    """A typed part of a JSON document (a pydantic model).

    Unknown keys are refused unless the subclass sets ``model_config = ConfigDict(extra="allow")``
    (then they are kept, readable as attributes and in ``model_extra``, and written back). Fields
    without a default are required.
    """

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, protected_namespaces=(),
                              ser_json_inf_nan="constants")  # NaN stays NaN, so that write_json_atomic refuses it

    @model_serializer(mode="wrap")
    def _leave_out_unset_optionals(self, handler: Any) -> Any:
        out = handler(self)
        for name, info in type(self).model_fields.items():
            key = info.alias or name
            if key in out and out[key] is None and _omitted_when_none(info, was_set=name in self.model_fields_set):
                del out[key]
        return out

    @classmethod
    def from_dict(cls: type[R], d: Mapping[str, Any]) -> R:
        """Validate parsed JSON (``schema``/``schema_version`` keys are ignored); SchemaError naming the field."""
        try:
            return cls.model_validate(_body(d))
        except ValidationError as exc:
            raise SchemaError(f"{cls.__name__}: {_error_text(exc, d)}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``model_dump(mode="json")``); optional fields left out when None (see module doc)."""
        return self.model_dump(mode="json", fallback=_json_default)

    def replace(self: R, **changes: Any) -> R:
        """A validated copy with ``changes`` (the dataclasses.replace of these records)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(self.model_extra or {})
        data.update(changes)
        out = type(self).model_validate(data)
        # the fields given stay those given to self plus the changes (see null_if_set)
        object.__setattr__(out, "__pydantic_fields_set__", set(self.model_fields_set) | set(changes))
        return out


def _body(d: Any) -> Any:
    return {k: v for k, v in d.items() if k not in HEADER_KEYS} if isinstance(d, Mapping) else d


class Document(Record):
    """A whole JSON file: ``{"schema": KIND, "schema_version": VERSION, ...fields}``.

    Each subclass with a ``KIND`` is registered, so :func:`load_document` can read a file by its kind.
    """

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    registry: ClassVar[dict[str, type[Document]]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.KIND:
            Document.registry[cls.KIND] = cls

    @classmethod
    def header(cls) -> dict[str, Any]:
        return {"schema": cls.KIND, "schema_version": cls.VERSION}

    @classmethod
    def check_header(cls, d: Any, *, source: str) -> None:
        """SchemaError naming ``source``, the kind and the supported version unless ``d`` is this kind and version."""
        if not isinstance(d, Mapping):
            raise SchemaError(f"{source}: not a JSON object; expected a '{cls.KIND}' document, version {cls.VERSION}.")
        kind, version = d.get("schema"), d.get("schema_version")
        if kind != cls.KIND:
            found = "no 'schema' key (an unversioned file)" if kind is None else f"schema '{kind}' version {version}"
            raise SchemaError(f"{source}: expected a '{cls.KIND}' document (version {cls.VERSION}), found {found}. "
                              "Rewrite it with the current version of this program.")
        if version != cls.VERSION:
            raise SchemaError(f"{source}: '{kind}' version {version} is not supported; this program reads version "
                              f"{cls.VERSION}. Use the program version that wrote it, or rewrite the file.")

    @classmethod
    def from_dict(cls: type[D], d: Mapping[str, Any], *, source: str | None = None) -> D:
        """Validate the header and every field; ``source`` (a file name) goes into the error message."""
        src = source or f"this {cls.KIND} document"
        cls.check_header(d, source=src)
        return cls.body_from_dict(d, source=src)

    @classmethod
    def body_from_dict(cls: type[D], d: Mapping[str, Any], *, source: str | None = None) -> D:
        """The record from its fields alone (writers building a document from a plain report)."""
        try:
            return cls.model_validate(_body(d))
        except ValidationError as exc:
            raise SchemaError(f"{source or 'this document'} ('{cls.KIND}' version {cls.VERSION}): "
                              f"{_error_text(exc, d)}.") from None

    @classmethod
    def load(cls: type[D], path: str | Path) -> D:
        """Read and validate ``path``; SchemaError when it is not valid JSON of this kind and version."""
        path = Path(path)
        return cls.from_dict(_read_json(path, expected=f"a '{cls.KIND}' document, version {cls.VERSION}"),
                             source=path.name)

    def to_dict(self) -> dict[str, Any]:
        return {**self.header(), **super().to_dict()}

    def save(self, path: str | Path) -> Path:
        """Atomic write (temporary file, then rename); NaN refused."""
        return write_json_atomic(self.to_dict(), path)


def _read_json(path: Path, *, expected: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path.name}: not readable JSON ({exc}); expected {expected}.") from None


def load_document(path: str | Path) -> Document:
    """Read any document of this program, choosing its class by its ``schema`` (kind).

    SchemaError naming the file, the kind found and the kinds (with versions) this program reads when
    the kind is unknown; the class's own errors otherwise (version, fields).
    """
    path = Path(path)
    known = ", ".join(f"'{k}' (version {c.VERSION})" for k, c in sorted(Document.registry.items()))
    data = _read_json(path, expected=f"one of {known}")
    kind = data.get("schema") if isinstance(data, Mapping) else None
    cls = Document.registry.get(kind) if isinstance(kind, str) else None
    if cls is None:
        found = "no 'schema' key" if kind is None else f"kind '{kind}'"
        raise SchemaError(f"{path.name}: {found} is not a document this program reads; it reads {known}.")
    return cls.from_dict(data, source=path.name)
