"""Conditions written by users over named columns, e.g. "size > 0.5 and stripes == 1".

The text is parsed with `ast` and evaluated by walking a whitelist of node types, never by
`eval`: only column names, numbers, known string constants, comparisons, and/or/not and
+ - * / get through, so a rule string cannot reach Python.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stylex.errors import DataError

# Long enough for any real rule; keeps the recursive parser and evaluator away from deep nesting.
MAX_EXPRESSION_CHARS = 500

_ALLOWED = "column names, numbers, known strings, comparisons, and/or/not, + - * /"

_BINARY_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE_OPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: np.isin(a, b),
    ast.NotIn: lambda a, b: ~np.isin(a, b),
}


@dataclass(frozen=True)
class Condition:
    """A parsed condition; call it with columns (equal-length arrays) to get a bool array."""

    text: str  # as the user wrote it
    names: list[str]  # column names it references, in order of first use
    string_codes: Mapping[str, int] = field(repr=False)  # string constant -> the code it means
    tree: ast.Expression = field(repr=False, compare=False)

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        # Users may divide by a column that is zero somewhere; inf/nan then compare False.
        with np.errstate(divide="ignore", invalid="ignore"):
            result = self._eval(self.tree.body, columns)
        length = len(next(iter(columns.values())))
        return np.broadcast_to(np.asarray(result, dtype=bool), (length,)).copy()

    def _eval(self, node: ast.AST, columns: Mapping[str, np.ndarray]) -> Any:
        if isinstance(node, ast.Name):
            return columns[node.id]
        if isinstance(node, ast.Constant):
            return self.string_codes[node.value] if isinstance(node.value, str) else node.value
        if isinstance(node, ast.Tuple | ast.List):
            return [self._eval(e, columns) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, columns)
            if isinstance(node.op, ast.Not):
                return np.logical_not(value)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            op = _BINARY_OPS[type(node.op)]
            return op(self._eval(node.left, columns), self._eval(node.right, columns))
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return combine.reduce([self._eval(v, columns) for v in node.values])
        if isinstance(node, ast.Compare):
            # a < b < c means (a < b) and (b < c), as in Python.
            result, left = True, self._eval(node.left, columns)
            for cmp, right_node in zip(node.ops, node.comparators, strict=True):
                right = self._eval(right_node, columns)
                result = np.logical_and(result, _COMPARE_OPS[type(cmp)](left, right))
                left = right
            return result
        raise AssertionError(f"node {type(node).__name__} passed validation but has no evaluator")


def compile_condition(
    text: str,
    names: Collection[str],  # the column names the condition may use
    string_codes: Mapping[str, int] | None = None,  # string constants it may use, as codes
) -> Condition:
    """Parse and check `text`; raise DataError naming the offending token if it is not allowed."""
    string_codes = dict(string_codes or {})
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"rule expression {text!r} is empty; expected a condition over {_ALLOWED}")
    text = text.strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise DataError(
            f"rule expression of {len(text)} characters is too long; "
            f"expected at most {MAX_EXPRESSION_CHARS}"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise DataError(f"rule expression {text!r} is not valid syntax: {e.msg}") from e

    checker = _Checker(text, set(names), string_codes)
    checker.visit(tree.body)
    # The top node must produce a truth value, not a number.
    is_negation = isinstance(tree.body, ast.UnaryOp) and isinstance(tree.body.op, ast.Not)
    if not (isinstance(tree.body, ast.Compare | ast.BoolOp) or is_negation):
        raise DataError(
            f"rule expression {text!r} is not a condition; expected a comparison or "
            "and/or of comparisons, e.g. 'size > 0.5 and stripes == 1'"
        )
    if not checker.used:
        raise DataError(
            f"rule expression {text!r} uses no column; expected a condition over "
            f"{', '.join(sorted(names))}"
        )
    return Condition(text=text, names=checker.used, string_codes=string_codes, tree=tree)


class _Checker(ast.NodeVisitor):
    """Rejects every node outside the whitelist and records the names used."""

    def __init__(self, text: str, names: set[str], string_codes: Mapping[str, int]) -> None:
        self.text = text
        self.names = names
        self.string_codes = string_codes
        self.used: list[str] = []

    def _reject(self, node: ast.AST, why: str) -> DataError:
        fragment = ast.get_source_segment(self.text, node) or type(node).__name__
        return DataError(f"rule expression {self.text!r}: {fragment!r} {why}; expected {_ALLOWED}")

    def generic_visit(self, node: ast.AST) -> None:
        raise self._reject(node, f"is not allowed ({type(node).__name__})")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id not in self.names:
            raise DataError(
                f"rule expression {self.text!r}: unknown name {node.id!r}; expected one of "
                f"{', '.join(sorted(self.names))}"
            )
        if node.id not in self.used:
            self.used.append(node.id)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str):
            if value not in self.string_codes:
                raise DataError(
                    f"rule expression {self.text!r}: unknown string {value!r}; expected one of "
                    f"{', '.join(repr(s) for s in self.string_codes) or 'no strings'}"
                )
        elif not isinstance(value, int | float):  # bool is an int
            raise self._reject(node, "is not a number or known string")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            raise self._reject(node, f"uses operator {type(node.op).__name__}")
        self.visit(node.operand)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) not in _BINARY_OPS:
            raise self._reject(node, f"uses operator {type(node.op).__name__}")
        self.visit(node.left)
        self.visit(node.right)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.visit(value)

    def visit_Compare(self, node: ast.Compare) -> None:
        self.visit(node.left)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE_OPS:
                raise self._reject(node, f"uses comparison {type(op).__name__}")
            if isinstance(op, ast.In | ast.NotIn):
                # Membership only against a literal list of constants: `shape in ('a', 'b')`.
                if not isinstance(right, ast.Tuple | ast.List):
                    raise self._reject(right, "must be a literal tuple or list after 'in'")
                for element in right.elts:
                    if not isinstance(element, ast.Constant):
                        raise self._reject(element, "must be a constant inside 'in (...)'")
                    self.visit(element)
            else:
                self.visit(right)
