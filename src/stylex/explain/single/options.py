"""The options of one explanation, checked in one place.

Every entry point (gRPC, OIP, TorchServe, the batch job, the CLI) turns what its user sent into
an `ExplainOptions` with `explain_options`; the explain code trusts the type. (An `ExplainOptions`
built directly, without the model's classes, may name a class index the model lacks:
`explain_batch` refuses such an item with `check_class_index`, the one statement of that rule.)
The rule for what a target string means is decided here, once:

    "" or None        the runner-up class (the most probable class other than the predicted one)
    "predicted"       the class the classifier predicts for the input
    a class name      that class (a name wins over an index, so classes named "3" and "8" work)
    a decimal string  a class index

The search mode decides where an image's candidate attributes come from:

    "catalog"   the catalog's class-level attributes for the target (AttFind over many images)
    "image"     this image's own StyleSpace: every coordinate in both directions is ranked by a
                first-order screen; `num_candidates` edits are evaluated exactly, half the
                screen's best, half the screen prior (the edits best on the reference images
                nearest to this one), with the catalog's attributes
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stylex.errors import InvalidArgumentError

DEFAULT_TOP_K = 5
MAX_TOP_K = 64
DEFAULT_SHIFT = 1.0  # 1 moves a coordinate all the way to its extreme
RUNNER_UP = "runner-up"  # target rule: the most probable class other than the predicted one
PREDICTED = "predicted"  # target rule: the class the classifier predicts for the input
TARGET_RULES = (RUNNER_UP, PREDICTED)
CATALOG = "catalog"  # mode: the catalog's attributes for the target class
IMAGE = "image"  # mode: this image's own coordinates, screened then evaluated exactly
MODES = (CATALOG, IMAGE)
DEFAULT_NUM_CANDIDATES = 56  # IMAGE mode: screened edits evaluated exactly (docs/explain-path.md)
MAX_NUM_CANDIDATES = 256  # the cap a request may ask for unless the model sets its own


@dataclass(frozen=True)
class ExplainOptions:
    """What one image's explanation should be; invalid values cannot be constructed."""

    top_k: int = DEFAULT_TOP_K  # counterfactuals returned, best first
    target: int | str = RUNNER_UP  # class index, RUNNER_UP or PREDICTED
    shift: float = DEFAULT_SHIFT  # how far toward its extreme a coordinate moves
    exhaustive: bool = False  # evaluate all coordinates of the image exactly (no screen)
    mode: str = CATALOG  # where candidates come from: CATALOG or IMAGE
    num_candidates: int = DEFAULT_NUM_CANDIDATES  # IMAGE mode: edits evaluated exactly

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", check_mode(self.mode))
        if isinstance(self.num_candidates, bool) or not isinstance(self.num_candidates, int):
            raise InvalidArgumentError(f"num_candidates {self.num_candidates!r} is not an integer")
        if self.num_candidates < 1:
            raise InvalidArgumentError(f"num_candidates must be >= 1, got {self.num_candidates}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int):
            raise InvalidArgumentError(f"top_k {self.top_k!r} is not an integer")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise InvalidArgumentError(f"top_k {self.top_k} out of range [1, {MAX_TOP_K}]")
        if isinstance(self.shift, bool) or not isinstance(self.shift, (int, float)):
            raise InvalidArgumentError(f"shift {self.shift!r} is not a number")
        if not math.isfinite(self.shift) or self.shift <= 0:
            raise InvalidArgumentError(f"shift must be a finite number > 0, got {self.shift}")
        object.__setattr__(self, "shift", float(self.shift))
        if isinstance(self.target, bool) or not (
            (isinstance(self.target, int) and self.target >= 0) or self.target in TARGET_RULES
        ):
            raise InvalidArgumentError(
                f"target {self.target!r}: expected a class index >= 0 or one of {TARGET_RULES}"
            )


def parse_target(value: int | str | None, class_names: Sequence[str]) -> int | str:
    """A user's target (see the module docstring) -> a class index, RUNNER_UP or PREDICTED."""
    names = list(class_names)
    if value is None or value == "" or value == RUNNER_UP:
        return RUNNER_UP
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidArgumentError(f"target {value!r}: expected a class name or index")
    if isinstance(value, str):
        if value in names:
            return names.index(value)
        if value == PREDICTED:
            return PREDICTED
        if not value.isdecimal():
            raise InvalidArgumentError(f"unknown class {value!r}; classes are {names}")
        value = int(value)
    check_class_index(value, names)
    return value


def check_class_index(index: int, class_names: Sequence[str]) -> None:
    """InvalidArgumentError unless `index` is one of the model's classes."""
    names = list(class_names)
    if not 0 <= index < len(names):
        raise InvalidArgumentError(
            f"class index {index} out of range [0, {len(names)}); classes are {names}"
        )


def _integer(name: str, value: int | str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        if not value.strip().lstrip("-").isdecimal():
            raise InvalidArgumentError(f"{name} {value!r} is not an integer")
        return int(value)
    return value  # type and range checked by ExplainOptions


def check_mode(value: object) -> str:
    """A mode ("catalog" | "image", any case) -> its name; InvalidArgumentError otherwise. The
    one statement of the rule: options, the transports and the server's settings ask it."""
    if not isinstance(value, str) or value.lower() not in MODES:
        raise InvalidArgumentError(f"mode {value!r} unknown; expected one of {list(MODES)}")
    return value.lower()


def parse_mode(value: str | None, default: str = CATALOG) -> str:
    """A user's mode (None or "": `default`) -> a mode."""
    if value is None or value == "":
        return default
    return check_mode(value)


def _shift(value: float | str | None) -> float:
    if value is None or value == "":
        return DEFAULT_SHIFT
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise InvalidArgumentError(f"shift {value!r} is not a number") from None
    return value  # type and range checked by ExplainOptions


def explain_options(
    class_names: Sequence[str],
    *,
    top_k: int | str | None = None,  # None or "": DEFAULT_TOP_K
    target: int | str | None = None,  # see the module docstring
    shift: float | str | None = None,  # None or "": DEFAULT_SHIFT
    exhaustive: bool = False,
    mode: str | None = None,  # None or "": default_mode
    num_candidates: int | str | None = None,  # None or "": default_candidates
    default_mode: str = CATALOG,  # the model's (or server's) choice
    default_candidates: int = DEFAULT_NUM_CANDIDATES,
    max_candidates: int = MAX_NUM_CANDIDATES,  # what one request may ask for at most
) -> ExplainOptions:
    """A user's values (None: not given, the default) -> checked options.
    InvalidArgumentError names the bad value and what was expected."""
    candidates = _integer("num_candidates", num_candidates, default_candidates)
    if isinstance(candidates, int) and not isinstance(candidates, bool):
        if not 1 <= candidates <= max_candidates:
            raise InvalidArgumentError(
                f"num_candidates {candidates} out of range [1, {max_candidates}]"
            )
    return ExplainOptions(
        top_k=_integer("top_k", top_k, DEFAULT_TOP_K),
        target=parse_target(target, class_names),
        shift=_shift(shift),
        exhaustive=exhaustive,
        mode=parse_mode(mode, default_mode),
        num_candidates=candidates,
    )
