"""Human names of attributes ("hue toward red" instead of "b16.conv1 ch 34 (max)").

A name belongs to an edit, (index, direction): it is the same in every class's list of the
catalog. Names come from the command line (`INDEX:DIRECTION=NAME`), from a JSON file, or from
the names `stylex evaluate` suggests (metrics.json "alignment" "suggested_names"). The forms a
file may take:

    {"290:max": "hue toward red", ...}
    [{"index": 290, "direction": "max", "name": "hue toward red"}, ...]   ("label" for "name")
    a metrics.json: its alignment.suggested_names, a list as above (an entry with a "factor"
    and "name": null is an edit that moves several factors: it stays unnamed)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from stylex.errors import InvalidArgumentError
from stylex.explain.vocabulary.attributes import DIRECTION_NAMES
from stylex.explain.vocabulary.catalog import AttributeCatalog

Key = tuple[int, int]  # (index, direction)
MAX_LABEL_CHARS = 80


def parse_key(text: str) -> Key:
    """ "290:max" (or "290:1") -> (290, 1)."""
    index, sep, direction = str(text).partition(":")
    if not sep or not index.strip().isdecimal():
        raise InvalidArgumentError(f"attribute {text!r}: expected INDEX:DIRECTION, e.g. 290:max")
    d = direction.strip().lower()
    if d in DIRECTION_NAMES:
        return int(index), DIRECTION_NAMES.index(d)
    if d in ("0", "1"):
        return int(index), int(d)
    raise InvalidArgumentError(f"attribute {text!r}: direction {direction!r} is not min or max")


def _name(key: Key, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"name of attribute {key[0]}:{DIRECTION_NAMES[key[1]]} is "
                                   f"{value!r}; expected a non-empty string")  # fmt: skip
    name = " ".join(value.split())
    if len(name) > MAX_LABEL_CHARS:
        raise InvalidArgumentError(
            f"name {name[:20]!r}... has {len(name)} characters; at most {MAX_LABEL_CHARS}"
        )
    return name


def parse_assignment(text: str) -> tuple[Key, str]:
    """ "290:max=hue toward red" -> ((290, 1), "hue toward red")."""
    key_text, sep, name = text.partition("=")
    if not sep:
        raise InvalidArgumentError(f"{text!r}: expected INDEX:DIRECTION=NAME")
    key = parse_key(key_text)
    return key, _name(key, name)


def labels_from_json(data: Any, source: str) -> dict[Key, str]:
    """Names from a parsed JSON document (the forms in the module docstring)."""
    if isinstance(data, dict) and "alignment" in data:
        data = (data.get("alignment") or {}).get("suggested_names")
        if data is None:
            raise InvalidArgumentError(
                f"{source} has no alignment.suggested_names (`stylex evaluate` writes them on "
                "shapes data)"
            )
    out: dict[Key, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            key = parse_key(k)
            out[key] = _name(key, v)
        return out
    if not isinstance(data, list):
        raise InvalidArgumentError(f"{source}: expected an object or a list of names")
    for row in data:
        if not isinstance(row, dict) or "index" not in row or "direction" not in row:
            raise InvalidArgumentError(f"{source}: entry {row!r} lacks index / direction")
        key = parse_key(f"{row['index']}:{row['direction']}")
        name = row.get("name", row.get("label"))
        if name is None and "factor" in row:  # a suggestion left unnamed: no single factor
            continue
        out[key] = _name(key, name)
    return out


def read_labels(path: str | Path) -> dict[Key, str]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"cannot read names from {path}: {exc}") from None
    return labels_from_json(data, str(path))


def apply_labels(catalog: AttributeCatalog, labels: dict[Key, str]) -> AttributeCatalog:
    """A copy of `catalog` with each named edit's label set in every class's list. A name for
    an edit the catalog does not hold is refused (a typo would otherwise vanish)."""
    held = {a.key for attrs in catalog.classes.values() for a in attrs}
    unknown = sorted(set(labels) - held)
    if unknown:
        shown = ", ".join(f"{i}:{DIRECTION_NAMES[d]}" for i, d in unknown[:5])
        raise InvalidArgumentError(
            f"{len(unknown)} named attribute(s) not in the catalog: {shown}; the catalog holds "
            f"{len(held)} (see `stylex serve` model info or attributes.json)"
        )
    classes = {
        name: [dataclasses.replace(a, label=labels.get(a.key, a.label)) for a in attrs]
        for name, attrs in catalog.classes.items()
    }
    return dataclasses.replace(catalog, classes=classes)
