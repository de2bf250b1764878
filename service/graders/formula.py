"""The ``calculate_output`` formula of a ``multi`` grader.

A formula is one arithmetic expression over the sub-graders' rewards, by name, as OpenAI
documents it: ``+ - * /``, ``^`` (power, as in OpenAI's formulas; ``**`` works too), ``//``, ``%``,
comparisons, ``a if c else b``, parentheses, number literals and the functions ``min``, ``max``,
``abs``, ``floor``, ``ceil``, ``exp``, ``sqrt`` and ``log``.

It is checked twice. ``parse_formula`` walks Python's syntax tree of the expression and refuses
every node outside that list (attribute access, subscripts, strings, lambdas, comprehensions,
keyword arguments) and every name that is not a sub-grader or a function, so a bad formula is a
400 at create. ``evaluate`` then runs it with ``simpleeval``, a sandboxed evaluator (never
``eval``), over floats only; a result that is not a finite number, or a math error such as a
division by zero, raises ``FormulaError``, which a run reports as ``formula_parse_error``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import simpleeval  # type: ignore[import-untyped]

MAX_FORMULA_CHARS = 2_000

FUNCTIONS: Mapping[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}


def _power(base: float, exponent: float) -> float:
    # math.pow raises on overflow and on a negative base with a fractional exponent, where
    # `**` would build a huge int or a complex number.
    return math.pow(base, exponent)


_OPERATORS: Mapping[type[ast.AST], Callable[..., object]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
    ast.BitXor: _power,  # OpenAI's formulas write a power as `^`
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.And,
    ast.Or,
    *_OPERATORS,
)


class FormulaError(ValueError):
    """The formula is malformed, names something unknown, or cannot be computed."""


@dataclass(frozen=True)
class Formula:
    """A checked formula and the sub-grader names it reads."""

    text: str
    names: frozenset[str]


def parse_formula(text: str, *, sub_graders: Collection[str]) -> Formula:
    """Check ``text`` against the allowed syntax and the sub-graders' names."""
    if not text.strip():
        raise FormulaError("the formula is empty")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(f"the formula is longer than {MAX_FORMULA_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise FormulaError(f"the formula is not a valid expression: {exc}") from None
    names: set[str] = set()
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise FormulaError(f"{_describe(node)} is not allowed in a formula")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise FormulaError(f"only numbers may appear as literals, not {node.value!r}")
        if isinstance(node, ast.Call):
            _check_call(node)
        elif isinstance(node, ast.Name) and id(node) not in callees:
            if node.id not in sub_graders:
                known = ", ".join(sorted(sub_graders)) or "none"
                raise FormulaError(
                    f"the formula names '{node.id}', which is not one of its graders ({known})"
                )
            names.add(node.id)
    return Formula(text=text, names=frozenset(names))


def _check_call(node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        allowed = ", ".join(FUNCTIONS)
        raise FormulaError(f"only these functions may be called: {allowed}")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise FormulaError(f"{node.func.id}() takes plain arguments only")
    if not node.args:
        raise FormulaError(f"{node.func.id}() needs an argument")


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"attribute access ('.{node.attr}')"
    if isinstance(node, ast.Subscript):
        return "indexing ('[...]')"
    return f"'{type(node).__name__}'"


def evaluate(formula: Formula, rewards: Mapping[str, float]) -> float:
    """The formula's value over ``rewards`` (by sub-grader name); raises FormulaError."""
    evaluator = simpleeval.SimpleEval(
        operators=dict(_OPERATORS),
        functions=dict(FUNCTIONS),
        names={name: float(rewards[name]) for name in formula.names},
    )
    try:
        value = evaluator.eval(formula.text.strip())
    except (
        ArithmeticError,
        ValueError,
        TypeError,
        RecursionError,
        simpleeval.InvalidExpression,
    ) as exc:
        raise FormulaError(f"the formula could not be computed: {exc}") from None
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise FormulaError(f"the formula gave {value!r}, not a finite number")
    return float(value)
