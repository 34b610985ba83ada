"""Labels of the shapes data set: named rules over the factors, or a user's condition.

A rule maps the factor table (columns) to integer labels. Named rules keep their classes
roughly balanced over uniformly drawn factors (binary ones within 35/65).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from stylex.data.expression import Condition, compile_condition
from stylex.data.shape_factors import FACTORS, SHAPES
from stylex.errors import DataError

Columns = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Rule:
    """How a label follows from the factors."""

    name: str  # registry key, or the expression text for a user's condition
    definition: str  # human-readable, recorded in run configs
    class_names: list[str]  # label index -> name
    factors: list[str]  # the factors the label depends on
    label_fn: Callable[[Columns], np.ndarray]  # columns -> labels; picklable for DataLoader workers

    def labels(self, columns: Columns) -> np.ndarray:
        """Labels int64 [N] for factor columns of length N."""
        return np.asarray(self.label_fn(columns)).astype(np.int64)


def _hue3(columns: Columns) -> np.ndarray:
    # Thirds of the hue circle centred on red, green and blue.
    hue = columns["hue"]
    return np.where((hue < 1 / 6) | (hue >= 5 / 6), 0, np.where(hue < 1 / 2, 1, 2))


def _shape(columns: Columns) -> np.ndarray:
    return columns["shape"]


def _condition(text: str) -> Condition:
    return compile_condition(text, FACTORS, {name: k for k, name in enumerate(SHAPES)})


def _condition_rule(name: str, text: str, class_names: list[str]) -> Rule:
    condition = _condition(text)
    return Rule(name, text, class_names, condition.names, condition)


RULES: dict[str, Rule] = {
    # Measured on 2000 images with seed 0: about 1/3 red, the rest green or blue.
    "hue_red": _condition_rule("hue_red", "hue < 1/6 or hue >= 5/6", ["not_red", "red"]),
    "striped": _condition_rule("striped", "stripes == 1", ["plain", "striped"]),
    "pointed": _condition_rule(
        "pointed", "shape in ('triangle', 'star')", ["circle_or_square", "triangle_or_star"]
    ),
    # Size > 0.5 holds for 3/4 of the images, so the conjunction stays near 3/8.
    "big_and_striped": _condition_rule(
        "big_and_striped", "size > 0.5 and stripes == 1", ["other", "big_and_striped"]
    ),
    # The background's grey level is uniform in BG_RANGE = (0, 0.6): half and half.
    "light_bg": _condition_rule("light_bg", "bg > 0.3", ["dark_bg", "light_bg"]),
    "shape": Rule("shape", "class = shape", list(SHAPES), ["shape"], _shape),
    "hue3": Rule(
        "hue3",
        "red: hue < 1/6 or hue >= 5/6; green: hue < 1/2; blue: otherwise",
        ["red", "green", "blue"],
        ["hue"],
        _hue3,
    ),
}

# Colour is what a small CNN picks up first and what a GAN renders reliably at low resolution.
DEFAULT_RULE = "hue_red"


def resolve_rule(rule: str | None) -> Rule:
    """The named rule, or a binary rule from a condition over factor names; None -> default."""
    if rule is None:
        return RULES[DEFAULT_RULE]
    if not isinstance(rule, str):
        raise DataError(f"rule {rule!r} is not valid; expected a rule name or a condition string")
    if rule in RULES:
        return RULES[rule]
    if rule.strip().isidentifier() and rule.strip() not in FACTORS:
        # A bare word is a mistyped rule name far more often than a condition.
        raise DataError(
            f"unknown rule {rule!r}; expected one of {', '.join(RULES)} or a condition over "
            f"{', '.join(FACTORS)}, e.g. 'size > 0.5 and stripes == 1'"
        )
    condition = _condition(rule)
    return Rule(condition.text, condition.text, ["false", "true"], condition.names, condition)
