"""Conditional-format expressions of a workbook, evaluated as OSWorld does: with the cell's own raw value
bound to the one reference the expression makes, by a small evaluator of the Excel functions such rules use
(OSWorld uses the `formulas` library)."""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from aios.evals.osworld.unsupported import Unsupported

_FORMULA_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"]|"")*")
    |(?P<ref>(?:(?:'[^']+'|\w+)!)?\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?)(?![\w(])
    |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    |(?P<name>[A-Za-z_][\w.]*)
    |(?P<op><>|<=|>=|[-+*/^&=<>(),;%]))""",
    re.X,
)
_ABSOLUTE = re.compile(r"\$[A-Z]{1,3}\$\d+")


class _FormulaError(Exception):
    """An Excel error value (#VALUE!, #DIV/0!...): the condition does not hold."""


def _tokens(formula: str) -> list[tuple[str, str]]:
    found, pos, text = [], 0, formula.strip()
    while pos < len(text):
        m = _FORMULA_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unsupported("metric:compare_table:style:conditional_format", f"cannot read {formula!r}")
        kind = m.lastgroup or "op"
        found.append((kind, m.group(kind)))
        pos = m.end()
    return found


class _Parser:
    """Recursive descent over Excel's operator precedence; yields a tree of tuples."""

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("=", "<>", "<", ">", "<=", ">="),
        ("&",),
        ("+", "-"),
        ("*", "/"),
        ("^",),
    )

    def __init__(self, formula: str) -> None:
        self.tokens, self.pos = _tokens(formula), 0

    def parse(self) -> Any:
        tree = self._binary(0)
        if self.pos != len(self.tokens):
            raise Unsupported("metric:compare_table:style:conditional_format", "trailing input")
        return tree

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        self.pos += 1
        return token

    def _binary(self, level: int) -> Any:
        if level == len(self._LEVELS):
            return self._unary()
        tree = self._binary(level + 1)
        while self._peek()[0] == "op" and self._peek()[1] in self._LEVELS[level]:
            tree = ("op", self._take()[1], tree, self._binary(level + 1))
        return tree

    def _unary(self) -> Any:
        if self._peek() in (("op", "-"), ("op", "+")):
            sign = self._take()[1]
            return ("neg", self._unary()) if sign == "-" else self._unary()
        tree = self._primary()
        while self._peek() == ("op", "%"):
            self._take()
            tree = ("op", "/", tree, ("num", 100.0))
        return tree

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "num":
            return ("num", float(text))
        if kind == "str":
            return ("str", text[1:-1].replace('""', '"'))
        if kind == "ref":
            return ("ref", text)
        if kind == "name" and self._peek() == ("op", "("):
            self._take()
            return ("call", text.upper(), self._arguments())
        if kind == "name" and text.upper() in ("TRUE", "FALSE"):
            return ("bool", text.upper() == "TRUE")
        if (kind, text) == ("op", "("):
            tree = self._binary(0)
            self._take()
            return tree
        raise Unsupported("metric:compare_table:style:conditional_format", f"unexpected {text!r}")

    def _arguments(self) -> list[Any]:
        found: list[Any] = []
        while self._peek() != ("op", ")"):
            found.append(self._binary(0))
            if self._peek()[1] in (",", ";"):
                self._take()
        self._take()
        return found


def _refs(tree: Any) -> set[str]:
    if tree[0] == "ref":
        return {tree[1]}
    children = tree[2] if tree[0] == "call" else tree[1:] if tree[0] in ("op", "neg") else []
    return set().union(*(_refs(c) for c in children if isinstance(c, tuple)))


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        raise _FormulaError("#VALUE!") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        if value.upper() in ("TRUE", "FALSE"):
            return value.upper() == "TRUE"
        raise _FormulaError("#VALUE!")
    return bool(value)


def _rank(value: Any) -> tuple[int, Any]:
    """Excel orders numbers before text before logicals; text ignores case."""
    if isinstance(value, bool):
        return 2, value
    if isinstance(value, str):
        return 1, value.lower()
    return 0, float(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    blank = {0: 0.0, 1: "", 2: False}
    if left is None and right is None:
        left = right = 0.0
    left = blank[_rank(right)[0]] if left is None else left
    right = blank[_rank(left)[0]] if right is None else right
    compare = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, ">": operator.gt}
    compare |= {"<=": operator.le, ">=": operator.ge}
    return compare[op](_rank(left), _rank(right))


def _arith(op: str, left: Any, right: Any) -> Any:
    if op == "&":
        return _text(left) + _text(right)
    a, b = _num(left), _num(right)
    if op == "/" and b == 0:
        raise _FormulaError("#DIV/0!")
    return {
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
        "/": operator.truediv,
        "^": operator.pow,
    }[op](a, b)


def _serial_date(value: Any) -> dt.date:
    return dt.date(1899, 12, 30) + dt.timedelta(days=int(_num(value)))


def _weekday(value: Any, kind: Any = 1.0) -> float:
    day = _serial_date(value).weekday()  # Monday is 0
    offsets = {1: (day + 1) % 7 + 1, 2: day + 1, 3: day}
    if int(_num(kind)) not in offsets:
        raise _FormulaError("#NUM!")
    return float(offsets[int(_num(kind))])


def _round_half_up(value: Any, digits: Any = 0.0) -> float:
    scale = 10.0 ** int(_num(digits))
    number = _num(value)
    return math.copysign(math.floor(abs(number) * scale + 0.5) / scale, number)


def _mod(value: Any, divisor: Any) -> float:
    a, b = _num(value), _num(divisor)
    if b == 0:
        raise _FormulaError("#DIV/0!")
    return a - b * math.floor(a / b)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "AND": lambda *a: all(_truth(v) for v in a),
    "OR": lambda *a: any(_truth(v) for v in a),
    "NOT": lambda v: not _truth(v),
    "ISBLANK": lambda v: v is None,
    "ISNUMBER": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "ISTEXT": lambda v: isinstance(v, str),
    "ISEVEN": lambda v: int(_num(v)) % 2 == 0,
    "ISODD": lambda v: int(_num(v)) % 2 == 1,
    "LEN": lambda v: float(len(_text(v))),
    "LEFT": lambda v, n=1.0: _text(v)[: int(_num(n))],
    "RIGHT": lambda v, n=1.0: _text(v)[len(_text(v)) - int(_num(n)) :] if int(_num(n)) else "",
    "MID": lambda v, s, n: _text(v)[int(_num(s)) - 1 : int(_num(s)) - 1 + int(_num(n))],
    "UPPER": lambda v: _text(v).upper(),
    "LOWER": lambda v: _text(v).lower(),
    "TRIM": lambda v: " ".join(_text(v).split()),
    "EXACT": lambda a, b: _text(a) == _text(b),
    "VALUE": _num,
    "ABS": lambda v: abs(_num(v)),
    "INT": lambda v: float(math.floor(_num(v))),
    "MOD": _mod,
    "ROUND": _round_half_up,
    "WEEKDAY": _weekday,
    "DAY": lambda v: float(_serial_date(v).day),
    "MONTH": lambda v: float(_serial_date(v).month),
    "YEAR": lambda v: float(_serial_date(v).year),
}


def _evaluate(tree: Any, cell: Any) -> Any:
    kind = tree[0]
    if kind in ("num", "str", "bool"):
        return tree[1]
    if kind == "ref":
        return cell
    if kind == "neg":
        return -_num(_evaluate(tree[1], cell))
    if kind == "op":
        left, right = _evaluate(tree[2], cell), _evaluate(tree[3], cell)
        return (
            _compare(tree[1], left, right) if tree[1] in _Parser._LEVELS[0] else _arith(tree[1], left, right)
        )
    name, args = tree[1], tree[2]
    if name in ("ISERROR", "ISERR"):
        try:
            _evaluate(args[0], cell)
        except _FormulaError:
            return True
        return False
    if name == "IF":
        branch = 1 if _truth(_evaluate(args[0], cell)) else 2
        return _evaluate(args[branch], cell) if branch < len(args) else branch == 1
    return _FUNCTIONS[name](*(_evaluate(a, cell) for a in args))


def condition(formula: str) -> Callable[[Any], bool]:
    """A conditional format's expression as a test of one cell's raw value."""
    if _ABSOLUTE.search(formula):
        raise Unsupported(
            "metric:compare_table:style:conditional_format", f"absolute reference in {formula!r}"
        )
    tree = _Parser(formula).parse()
    unknown = _calls(tree) - set(_FUNCTIONS) - {"ISERROR", "ISERR", "IF"}
    if unknown or len(_refs(tree)) != 1:
        raise Unsupported("metric:compare_table:style:conditional_format", f"cannot evaluate {formula!r}")

    def holds(value: Any) -> bool:
        try:
            return _truth(_evaluate(tree, value))
        except (_FormulaError, ValueError, OverflowError, IndexError):
            return False

    return holds


def _calls(tree: Any) -> set[str]:
    if tree[0] == "call":
        return {tree[1]}.union(*(_calls(a) for a in tree[2]))
    if tree[0] in ("op", "neg"):
        return set().union(*(_calls(c) for c in tree[1:] if isinstance(c, tuple)))
    return set()
