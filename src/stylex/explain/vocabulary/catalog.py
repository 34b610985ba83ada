"""The attribute catalog, `attributes.json` in a run directory: AttFind's result.

Per class c, a ranked list of attributes that move images *toward* c. For a binary classifier
the list of class 0 is AttFind's combined "class 1 -> class 0" ranking and the list of class 1 is
the same coordinates with the direction reversed. It also holds the style min/max statistics the
directions refer to and the settings used. Export and serving read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylex.errors import CheckpointError, InvalidArgumentError
from stylex.explain.vocabulary.attributes import Attribute, StyleStats
from stylex.fileio import write_json
from stylex.models.stylespace import StyleLayout
from stylex.rundir import CATALOG_NAME

SCHEMA_VERSION = 1


@dataclass
class AttributeCatalog:
    class_names: list[str]
    classes: dict[str, list[Attribute]]  # class name -> attributes toward it, best first
    stats: StyleStats
    settings: dict[str, Any] = field(default_factory=dict)
    layout: list[dict] = field(default_factory=list)  # StyleLayout.to_json()

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
        }

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
