"""The attribute catalog, `attributes.json` in a run directory: AttFind's result.

Per class c, a ranked list of attributes that move images *toward* c. For a binary classifier
the list of class 0 is AttFind's combined "class 1 -> class 0" ranking and the list of class 1 is
the same coordinates with the direction reversed. It also holds the style min/max statistics the
directions refer to, the settings used and, optionally, IMAGE mode's screen prior (per class,
the edits most often among an image's exact best; `stylex.explain.screen`). Export and serving
read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylex.errors import CheckpointError, InvalidArgumentError
from stylex.explain.attributes import Attribute, StyleStats
from stylex.fileio import write_json
from stylex.models.stylespace import StyleLayout

CATALOG_NAME = "attributes.json"
SCHEMA_VERSION = 1


@dataclass
class AttributeCatalog:
    class_names: list[str]
    classes: dict[str, list[Attribute]]  # class name -> attributes toward it, best first
    stats: StyleStats
    settings: dict[str, Any] = field(default_factory=dict)
    layout: list[dict] = field(default_factory=list)  # StyleLayout.to_json()
    # class name -> [(index, direction)], the screen prior, most often best first; empty in
    # catalogs written before it existed (IMAGE mode then screens by the gradient alone)
    screen: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def style_layout(self) -> StyleLayout:
        """Where each StyleSpace coordinate lives (layer, channel)."""
        if not self.layout:
            raise CheckpointError("the attribute catalog has no StyleSpace layout")
        return StyleLayout.from_json(self.layout)

    @property
    def labels(self) -> dict[tuple[int, int], str]:
        """(index, direction) -> the name given to that edit (only the named ones)."""
        return {a.key: a.label for attrs in self.classes.values() for a in attrs if a.label}

    def for_class(self, name_or_index: str | int) -> list[Attribute]:
        name = self.class_name(name_or_index)
        return self.classes[name]

    def screen_for(self, name_or_index: str | int) -> list[Attribute]:
        """The screen prior's edits toward a class, most often best first ([] without one)."""
        edits = self.screen.get(self.class_name(name_or_index), [])
        if not edits:
            return []
        layout = self.style_layout
        return [Attribute.at(layout, k, d) for k, d in edits]

    def class_name(self, name_or_index: str | int) -> str:
        if isinstance(name_or_index, int):
            if not 0 <= name_or_index < len(self.class_names):
                raise InvalidArgumentError(
                    f"class index {name_or_index} out of range [0, {len(self.class_names)})"
                )
            return self.class_names[name_or_index]
        if name_or_index not in self.class_names:
            raise InvalidArgumentError(
                f"unknown class {name_or_index!r}; classes are {self.class_names}"
            )
        return name_or_index

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "class_names": self.class_names,
            "classes": {c: [a.to_dict() for a in attrs] for c, attrs in self.classes.items()},
            "settings": self.settings,
            "layout": self.layout,
            "stats": self.stats.to_json(),
            **({"screen": {c: [list(e) for e in v] for c, v in self.screen.items()}}
               if self.screen else {}),
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "<catalog>") -> AttributeCatalog:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise CheckpointError(
                f"{source}: attribute catalog schema {version!r}, expected {SCHEMA_VERSION}"
            )
        try:
            return cls(
                class_names=list(d["class_names"]),
                classes={
                    c: [Attribute.from_dict(a) for a in attrs] for c, attrs in d["classes"].items()
                },
                stats=StyleStats.from_json(d["stats"]),
                settings=dict(d.get("settings", {})),
                layout=list(d.get("layout", [])),
                screen=_read_screen(
                    d.get("screen", {}), list(d["class_names"]), len(d["stats"]["s_min"])
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: malformed attribute catalog ({exc})") from exc

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> AttributeCatalog:
        path = Path(path)
        if path.is_dir():
            path = path / CATALOG_NAME
        if not path.is_file():
            raise CheckpointError(f"no attribute catalog at {path}: run `stylex attfind` first")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_json(data, str(path))


def _read_screen(
    raw: Any, class_names: list[str], num_coords: int
) -> dict[str, list[tuple[int, int]]]:
    """The catalog's "screen" {class: [[index, direction], ...]}; ValueError names what is
    wrong (the caller reports it as a malformed catalog)."""
    if not isinstance(raw, dict):
        raise ValueError(f"screen is a {type(raw).__name__}, expected an object")
    out = {}
    for name, edits in raw.items():
        if name not in class_names:
            raise ValueError(f"screen names class {name!r}, not one of {class_names}")
        pairs = []
        for edit in edits:
            if (
                not isinstance(edit, list) or len(edit) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in edit)
                or not 0 <= edit[0] < num_coords or edit[1] not in (0, 1)
            ):  # fmt: skip
                raise ValueError(
                    f"screen of {name!r}: {edit!r} is not [index in [0, {num_coords}), 0 or 1]"
                )
            pairs.append((edit[0], edit[1]))
        out[name] = pairs
    return out
