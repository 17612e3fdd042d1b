"""The trigger conditions KFP's compiler writes for ``dsl.If``/``Elif``/``Else`` (and the
legacy ``dsl.Condition``), evaluated without ``eval``.

    holds("int(inputs.parameter_values['pipelinechannel--n']) > 3", {"pipelinechannel--n": 5})

The compiler (``pipeline_spec_builder._single_binary_operation_to_cel_condition``)
writes a CEL subset: comparisons ``== != < <= > >=`` between
``inputs.parameter_values['NAME']``, string literals in single quotes, numbers and
``true``/``false``; ``int(...)``/``double(...)`` casts; ``!(...)`` for a negated
operation (the branches before an Elif or Else) and ``&&`` joining them. ``||`` and
parentheses are accepted too. Values of different types are never equal (CEL's
heterogeneous equality); ordering them, and anything else outside the subset, is a
:class:`ConditionError`, before a run (:func:`parse`) or while evaluating.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConditionError(ValueError):
    """A condition outside the subset, or values it cannot compare."""


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^']*')|(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\]])"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)*))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_INPUTS = "inputs.parameter_values"


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Input:
    name: str


@dataclass(frozen=True)
class _Cast:
    to: str
    operand: _Node


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


_Node = _Literal | _Input | _Cast | _Not | _Binary


@dataclass(frozen=True)
class Condition:
    """A parsed condition: :meth:`holds` evaluates it; :attr:`inputs` are the parameter
    names it reads."""

    text: str
    tree: _Node

    @property
    def inputs(self) -> frozenset[str]:
        return frozenset(_inputs(self.tree))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition is true for the task's input parameter ``values``."""
        result = _evaluate(self.tree, values, self.text)
        if not isinstance(result, bool):
            raise ConditionError(f"condition {self.text!r} is not true or false but {result!r}")
        return result


def parse(text: str) -> Condition:
    """``text`` parsed; ConditionError says where it leaves the compiler's subset."""
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    tree = parser.disjunction()
    if parser.position != len(tokens):
        raise ConditionError(f"condition {text!r}: unexpected {tokens[parser.position][1]!r}")
    return Condition(text, tree)


def holds(text: str, values: Mapping[str, Any]) -> bool:
    """Whether the condition ``text`` is true for the parameter ``values``."""
    return parse(text).holds(values)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConditionError(f"condition {text!r}: cannot read {text[position:].strip()!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: ``||`` binds loosest, then ``&&``, then a comparison, then ``!``."""

    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ConditionError(f"condition {self.text!r} ends early")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise ConditionError(
                f"condition {self.text!r}: {expected!r} expected, not {token[1]!r}"
            )
        self.position += 1
        return token

    def disjunction(self) -> _Node:
        node = self.conjunction()
        while self.peek() == "||":
            self.take()
            node = _Binary("||", node, self.conjunction())
        return node

    def conjunction(self) -> _Node:
        node = self.comparison()
        while self.peek() == "&&":
            self.take()
            node = _Binary("&&", node, self.comparison())
        return node

    def comparison(self) -> _Node:
        node = self.unary()
        if self.peek() in _COMPARE:
            op = self.take()[1]
            node = _Binary(op, node, self.unary())
        return node

    def unary(self) -> _Node:
        if self.peek() == "!":
            self.take()
            return _Not(self.unary())
        return self.primary()

    def primary(self) -> _Node:
        kind, value = self.take()
        if value == "(":
            node = self.disjunction()
            self.take(")")
            return node
        if kind == "string":
            return _Literal(value[1:-1])
        if kind == "number":
            return _Literal(float(value) if re.search(r"[.eE]", value) else int(value))
        if value in ("true", "false"):
            return _Literal(value == "true")
        if value in ("int", "double"):
            self.take("(")
            node = self.disjunction()
            self.take(")")
            return _Cast(value, node)
        if value == _INPUTS:
            self.take("[")
            name_kind, name = self.take()
            if name_kind != "string":
                raise ConditionError(f"condition {self.text!r}: a quoted input name expected")
            self.take("]")
            return _Input(name[1:-1])
        raise ConditionError(f"condition {self.text!r}: unexpected {value!r}")


def _inputs(node: _Node) -> list[str]:
    if isinstance(node, _Input):
        return [node.name]
    if isinstance(node, (_Cast, _Not)):
        return _inputs(node.operand)
    if isinstance(node, _Binary):
        return _inputs(node.left) + _inputs(node.right)
    return []


def _evaluate(node: _Node, values: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Input):
        if node.name not in values:
            raise ConditionError(f"condition {text!r}: no value for input {node.name!r}")
        return values[node.name]
    if isinstance(node, _Cast):
        return _cast(node.to, _evaluate(node.operand, values, text), text)
    if isinstance(node, _Not):
        return not _truth(_evaluate(node.operand, values, text), text)
    left = _evaluate(node.left, values, text)
    if node.op == "&&":
        return _truth(left, text) and _truth(_evaluate(node.right, values, text), text)
    if node.op == "||":
        return _truth(left, text) or _truth(_evaluate(node.right, values, text), text)
    right = _evaluate(node.right, values, text)
    if _kind(left) != _kind(right):
        # CEL's heterogeneous equality: values of different types are not equal (a loop
        # item the compiler types as a string compared with '2'), but not ordered
        if node.op in ("==", "!="):
            return node.op == "!="
        raise ConditionError(
            f"condition {text!r}: cannot compare {left!r} ({_kind(left)}) "
            f"with {right!r} ({_kind(right)})"
        )
    result: bool = _COMPARE[node.op](left, right)
    return result


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _truth(value: Any, text: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"condition {text!r}: {value!r} is not true or false")
    return value


def _cast(to: str, value: Any, text: str) -> Any:
    """CEL's ``int()`` (truncating a double, parsing a string) and ``double()``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConditionError(f"condition {text!r}: cannot apply {to}() to {value!r}")
    try:
        return int(value) if to == "int" else float(value)
    except ValueError:
        raise ConditionError(f"condition {text!r}: {to}({value!r}) is not a number") from None
