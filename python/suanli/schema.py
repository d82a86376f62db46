"""Validation against suanli's JSON Schemas (reports/schema/*.schema.json).

`validate(doc, schema_name)` returns a list of `SchemaError` (empty: valid). It uses
python3-jsonschema when installed and `minimal=False`; otherwise a small validator for the
part of draft-07 the schemas use: type, enum, const, properties, required,
additionalProperties, patternProperties, items, minItems, maxItems, minimum, maximum,
exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, $ref (local), allOf, anyOf,
oneOf, not, if/then/else. A keyword outside that list raises NotImplementedError rather than
being ignored.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional

ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "examples", "$comment",
               "definitions", "$defs"}
HANDLED = {"type", "enum", "const", "properties", "required", "additionalProperties",
           "patternProperties", "items", "minItems", "maxItems", "minimum", "maximum",
           "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "$ref",
           "allOf", "anyOf", "oneOf", "not", "if", "then", "else"}


@dataclass(frozen=True)
class SchemaError:
    path: str     # JSON pointer into the document, "/results/3/status"
    message: str  # what was expected

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


def schema_dirs() -> List[Path]:
    """Where schemas are looked for: $SUANLI_SCHEMA_DIR, the source tree, installed copies."""
    dirs = []
    if os.environ.get("SUANLI_SCHEMA_DIR"):
        dirs.append(Path(os.environ["SUANLI_SCHEMA_DIR"]))
    here = Path(__file__).resolve().parent
    dirs.append(here.parent.parent / "reports" / "schema")           # python/suanli in the repo
    dirs.append(here.parent.parent.parent.parent / "share" / "suanli" / "schema")  # lib/python3/..
    dirs += [Path("/usr/share/suanli/schema"), Path("/usr/local/share/suanli/schema")]
    return dirs


def load_schema(name: str) -> dict:
    """Reads reports/schema/NAME (e.g. "report.schema.json")."""
    for d in schema_dirs():
        p = d / name
        if p.is_file():
            with open(p, encoding="utf-8") as f:
                return json.load(f)
    raise FileNotFoundError(f"schema {name} not found in " + ", ".join(map(str, schema_dirs())))


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _pointer(path: str, key: Any) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


class MinimalValidator:
    """The draft-07 subset the suanli schemas use (see the module's doc)."""

    def __init__(self, root: dict):
        self.root = root

    def resolve(self, ref: str) -> dict:
        if not ref.startswith("#"):
            raise NotImplementedError(f"$ref {ref}: only local references are supported")
        node: Any = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, v: Any, s: Any, path: str = "") -> Iterator[SchemaError]:
        if s is True or s == {}:
            return
        if s is False:
            yield SchemaError(path, "no value is allowed here")
            return
        unknown = set(s) - HANDLED - ANNOTATIONS
        if unknown:
            raise NotImplementedError(f"schema keywords not supported: {sorted(unknown)}")
        if "$ref" in s:
            yield from self.errors(v, self.resolve(s["$ref"]), path)
        yield from self._type_and_values(v, s, path)
        if isinstance(v, dict):
            yield from self._object(v, s, path)
        if isinstance(v, list):
            yield from self._array(v, s, path)
        yield from self._combinators(v, s, path)

    def _type_and_values(self, v: Any, s: dict, path: str) -> Iterator[SchemaError]:
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(_TYPES[t](v) for t in types):
                yield SchemaError(path, f"expected {' or '.join(types)}, got {json.dumps(v)[:60]}")
                return
        if "enum" in s and v not in s["enum"]:
            yield SchemaError(path, f"expected one of {s['enum']}, got {json.dumps(v)[:60]}")
        if "const" in s and v != s["const"]:
            yield SchemaError(path, f"expected {json.dumps(s['const'])}, got {json.dumps(v)[:60]}")
        if _TYPES["number"](v):
            for key, bad in (("minimum", lambda x, m: x < m), ("maximum", lambda x, m: x > m),
                             ("exclusiveMinimum", lambda x, m: x <= m),
                             ("exclusiveMaximum", lambda x, m: x >= m)):
                if key in s and bad(v, s[key]):
                    yield SchemaError(path, f"{v} violates {key} {s[key]}")
        if isinstance(v, str):
            if "minLength" in s and len(v) < s["minLength"]:
                yield SchemaError(path, f"shorter than {s['minLength']} characters")
            if "maxLength" in s and len(v) > s["maxLength"]:
                yield SchemaError(path, f"longer than {s['maxLength']} characters")
            if "pattern" in s and not re.search(s["pattern"], v):
                yield SchemaError(path, f"{v!r} does not match {s['pattern']}")

    def _object(self, v: dict, s: dict, path: str) -> Iterator[SchemaError]:
        for key in s.get("required", []):
            if key not in v:
                yield SchemaError(path, f"missing required member '{key}'")
        props = s.get("properties", {})
        patterns = s.get("patternProperties", {})
        for key, value in v.items():
            matched = False
            if key in props:
                matched = True
                yield from self.errors(value, props[key], _pointer(path, key))
            for pat, sub in patterns.items():
                if re.search(pat, key):
                    matched = True
                    yield from self.errors(value, sub, _pointer(path, key))
            extra = s.get("additionalProperties", True)
            if not matched and extra is False:
                yield SchemaError(_pointer(path, key), "member not allowed here")
            elif not matched and isinstance(extra, dict):
                yield from self.errors(value, extra, _pointer(path, key))

    def _array(self, v: list, s: dict, path: str) -> Iterator[SchemaError]:
        if "minItems" in s and len(v) < s["minItems"]:
            yield SchemaError(path, f"fewer than {s['minItems']} items")
        if "maxItems" in s and len(v) > s["maxItems"]:
            yield SchemaError(path, f"more than {s['maxItems']} items")
        items = s.get("items")
        if isinstance(items, list):
            for i, (value, sub) in enumerate(zip(v, items)):
                yield from self.errors(value, sub, _pointer(path, i))
        elif items is not None:
            for i, value in enumerate(v):
                yield from self.errors(value, items, _pointer(path, i))

    def _combinators(self, v: Any, s: dict, path: str) -> Iterator[SchemaError]:
        valid = lambda sub: not any(True for _ in self.errors(v, sub, path))  # noqa: E731
        for sub in s.get("allOf", []):
            yield from self.errors(v, sub, path)
        if "anyOf" in s and not any(valid(sub) for sub in s["anyOf"]):
            yield SchemaError(path, "matches none of anyOf")
        if "oneOf" in s:
            n = sum(1 for sub in s["oneOf"] if valid(sub))
            if n != 1:
                yield SchemaError(path, f"matches {n} of oneOf, expected exactly 1")
        if "not" in s and valid(s["not"]):
            yield SchemaError(path, "matches a schema it must not")
        if "if" in s:
            branch = s.get("then") if valid(s["if"]) else s.get("else")
            if branch is not None:
                yield from self.errors(v, branch, path)


def validate(doc: Any, schema_name: str, minimal: bool = False) -> List[SchemaError]:
    """Errors of doc against reports/schema/schema_name; empty when valid."""
    schema = load_schema(schema_name)
    if not minimal:
        try:
            import jsonschema  # type: ignore
        except ImportError:
            jsonschema = None
        if jsonschema is not None:
            v = jsonschema.Draft7Validator(schema)
            return [SchemaError("".join(f"/{p}" for p in e.absolute_path), e.message)
                    for e in v.iter_errors(doc)]
    return list(MinimalValidator(schema).errors(doc, schema))


def schema_for(doc: Any) -> Optional[str]:
    """The schema a suanli document follows, from its marker members; None if not one."""
    if not isinstance(doc, dict):
        return None
    if "suanli_certificate" in doc:
        return "certificate.schema.json"
    if "suanli_cluster" in doc:
        return "cluster.schema.json"
    if "suanli_rating" in doc:
        return "rating.schema.json"
    if "schema_version" in doc and "results" in doc:
        return "report.schema.json"
    return None
