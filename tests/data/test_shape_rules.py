import numpy as np
import pytest

from stylex.data import DEFAULT_RULE, RULES, SHAPES, ShapesDataset
from stylex.errors import DataError


@pytest.fixture(scope="module")
def table():
    return ShapesDataset(16, num_images=2000, seed=0).factor_table()


def _hand_labels(name, t):
    hue, shape = t["hue"], t["shape"]
    red = (hue < 1 / 6) | (hue >= 5 / 6)
    if name == "hue_red":
        return red
    if name == "striped":
        return t["stripes"] == 1
    if name == "pointed":
        return (shape == SHAPES.index("triangle")) | (shape == SHAPES.index("star"))
    if name == "big_and_striped":
        return (t["size"] > 0.5) & (t["stripes"] == 1)
    if name == "light_bg":
        return t["bg"] > 0.3
    if name == "shape":
        return shape
    if name == "hue3":
        return np.where(red, 0, np.where(hue < 0.5, 1, 2))
    raise AssertionError(f"no hand recomputation for rule {name}")


@pytest.mark.parametrize("name", list(RULES))
def test_named_rule_matches_hand_recomputation(name, table):
    rule = RULES[name]
    labels = rule.labels(table)
    np.testing.assert_array_equal(labels, _hand_labels(name, table).astype(np.int64))
    assert set(np.unique(labels)) == set(range(len(rule.class_names)))
    assert set(rule.factors) <= set(table)


@pytest.mark.parametrize("name", [n for n, r in RULES.items() if len(r.class_names) == 2])
def test_binary_rules_are_roughly_balanced(name, table):
    positive = RULES[name].labels(table).mean()
    assert 0.3 <= positive <= 0.7


def test_rule_factors():
    assert RULES["hue_red"].factors == ["hue"]
    assert RULES["big_and_striped"].factors == ["size", "stripes"]
    assert RULES["shape"].class_names == list(SHAPES)
    # The shipped model was trained on the condition `bg>0.3`: the same labels, other names.
    from stylex.data.shape_rules import resolve_rule

    table = ShapesDataset(16, num_images=300, seed=3).factor_table()
    condition = resolve_rule("bg>0.3")
    np.testing.assert_array_equal(condition.labels(table), RULES["light_bg"].labels(table))
    assert (condition.class_names, RULES["light_bg"].class_names) == (
        ["false", "true"],
        ["dark_bg", "light_bg"],
    )
    assert DEFAULT_RULE in RULES and len(RULES[DEFAULT_RULE].class_names) == 2


def test_expression_rule(table):
    ds = ShapesDataset(16, num_images=2000, rule="size > 0.5 and stripes == 1")
    assert ds.rule.factors == ["size", "stripes"]
    assert ds.class_names == ["false", "true"]
    expected = (table["size"] > 0.5) & (table["stripes"] == 1)
    np.testing.assert_array_equal(ds.labels(), expected.astype(np.int64))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shape == 'circle'", lambda t: t["shape"] == 0),
        ("'star' != shape", lambda t: t["shape"] != 3),
        ("shape not in ('circle', 'square')", lambda t: t["shape"] >= 2),
        ("0.3 < pos_x < 0.5", lambda t: (t["pos_x"] > 0.3) & (t["pos_x"] < 0.5)),
        ("not (bg * 2 - 0.1 > hue / 2)", lambda t: ~(t["bg"] * 2 - 0.1 > t["hue"] / 2)),
        ("angle < -1 or -angle > -0.25", lambda t: t["angle"] < 0.25),
    ],
)
def test_expression_semantics(text, expected, table):
    rule = ShapesDataset(16, num_images=4, rule=text).rule
    np.testing.assert_array_equal(rule.labels(table), expected(table).astype(np.int64))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("__import__('os')", "__import__"),
        ("size > 0.5 and colour == 1", "colour"),
        ("shape == 'hexagon'", "hexagon"),
        ("size.real > 0", "size.real"),
        ("(lambda: 1)() == 1", "lambda"),
        ("size ** 2 > 0.1", "size ** 2"),
        ("[x for x in ()] == 1", "for"),
        ("size > 0.5 and", "syntax"),
        ("size + 1", "not a condition"),
        ("1 < 2", "uses no column"),
        ("hue_blue", "unknown rule"),
    ],
)
def test_bad_expression_names_the_problem(text, named):
    with pytest.raises(DataError, match="rule") as info:
        ShapesDataset(16, num_images=4, rule=text)
    assert named in str(info.value)
