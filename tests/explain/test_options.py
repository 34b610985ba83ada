"""ExplainOptions and the one target rule: every entry point builds its options here."""

from __future__ import annotations

import pytest

from stylex.errors import InvalidArgumentError
from stylex.explain.single.options import (
    DEFAULT_SHIFT,
    DEFAULT_TOP_K,
    MAX_TOP_K,
    PREDICTED,
    RUNNER_UP,
    ExplainOptions,
    explain_options,
    parse_target,
)

DIGITS = ["3", "8"]  # `digits --rule 3_vs_8`: class names that look like indices


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, RUNNER_UP),
        ("", RUNNER_UP),
        ("predicted", PREDICTED),
        ("8", 1),  # the class named "8", not index 8
        ("3", 0),
        ("1", 1),  # no class is named "1": an index
        (0, 0),
        (1, 1),
    ],
)
def test_target_rule_with_digit_class_names(value, expected):
    assert parse_target(value, DIGITS) == expected


def test_target_rule_with_named_classes():
    names = ["not_red", "red"]
    assert parse_target("red", names) == 1
    assert parse_target("0", names) == 0
    with pytest.raises(InvalidArgumentError, match=r"unknown class 'blue'; classes are"):
        parse_target("blue", names)
    with pytest.raises(InvalidArgumentError, match=r"class index 2 out of range \[0, 2\)"):
        parse_target("2", names)
    with pytest.raises(InvalidArgumentError, match=r"class index 5 out of range"):
        parse_target(5, names)
    with pytest.raises(InvalidArgumentError, match="expected a class name or index"):
        parse_target(1.0, names)
    with pytest.raises(InvalidArgumentError, match="expected a class name or index"):
        parse_target(True, names)


def test_a_class_named_predicted_wins_over_the_rule():
    assert parse_target("predicted", ["other", "predicted"]) == 1


def test_defaults_and_values():
    assert explain_options(DIGITS) == ExplainOptions(DEFAULT_TOP_K, RUNNER_UP, DEFAULT_SHIFT)
    opts = explain_options(DIGITS, top_k="3", target="8", shift="0.5")
    assert (opts.top_k, opts.target, opts.shift) == (3, 1, 0.5)
    assert explain_options(DIGITS, top_k=MAX_TOP_K).top_k == MAX_TOP_K


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"top_k": 0}, r"top_k 0 out of range \[1, 64\]"),
        ({"top_k": MAX_TOP_K + 1}, "top_k 65 out of range"),
        ({"top_k": "five"}, "top_k 'five' is not an integer"),
        ({"top_k": 2.0}, "top_k 2.0 is not an integer"),
        ({"top_k": True}, "top_k True is not an integer"),
        ({"shift": 0}, "shift must be a finite number > 0, got 0"),
        ({"shift": float("nan")}, "shift must be a finite number > 0, got nan"),
        ({"shift": "far"}, "shift 'far' is not a number"),
        ({"target": "9"}, r"class index 9 out of range \[0, 2\)"),
    ],
)
def test_bad_values_name_the_problem(values, message):
    with pytest.raises(InvalidArgumentError, match=message):
        explain_options(DIGITS, **values)


def test_options_cannot_be_constructed_invalid():
    with pytest.raises(InvalidArgumentError, match="target -1"):
        ExplainOptions(target=-1)
    with pytest.raises(InvalidArgumentError, match="target 'red'"):
        ExplainOptions(target="red")  # names are resolved by parse_target, not stored
    assert ExplainOptions(shift=2).shift == 2.0 and isinstance(ExplainOptions(shift=2).shift, float)
