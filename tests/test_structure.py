"""Readable structure (issue 17): module and function sizes in ``nnunetv2_cta/``.

Rule, checked with :mod:`ast` on every ``nnunetv2_cta/**/*.py``:

* a module has at most ``MAX_MODULE_LINES`` physical lines (everything counted);
* a function or method has at most ``MAX_FUNCTION_LINES`` lines of code, counted from its ``def`` line to
  its last line (decorators not counted) **excluding** its docstring, blank lines and comment-only lines;
  nested functions count towards the function that contains them (and are also checked on their own);
* a longer function is allowed when the line just above its ``def`` (or above its first decorator) is a
  comment containing ``longer because``, saying why it is clearer in one piece.

``PENDING_SPLIT`` lists the offenders in files another change is editing; it should only shrink.
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nnunetv2_cta"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
EXEMPTION = "longer because"

# "path relative to nnunetv2_cta/::qualified function name" -> why it is still long. Only shrinks: an entry
# that is no longer too long fails test_pending_split_list_only_names_current_offenders.
PENDING_SPLIT: dict[str, str] = {}


def _code_lines(source: str) -> set[int]:
    """Line numbers (1-based) that hold code: not blank, not only a comment, not inside a docstring."""
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.difference_update(range(first.lineno, first.end_lineno + 1))
    return lines


def _functions(tree: ast.AST, prefix: str = ""):
    """Yield ``(qualified name, node)`` for every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, f"{name}.")
        else:
            yield from _functions(node, prefix)


def _is_exempt(node: ast.FunctionDef | ast.AsyncFunctionDef, source_lines: list[str]) -> bool:
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    above = source_lines[first - 2].strip() if first >= 2 else ""
    return above.startswith("#") and EXEMPTION in above


@functools.cache
def _measure() -> tuple[list[str], dict[str, int]]:
    """Return (long modules as messages, {``path::function``: lines of code} for unexempted long functions)."""
    long_modules: list[str] = []
    long_functions: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        source = path.read_text(encoding="utf-8")
        source_lines = source.splitlines()
        if len(source_lines) > MAX_MODULE_LINES:
            long_modules.append(f"nnunetv2_cta/{rel}: {len(source_lines)} lines > {MAX_MODULE_LINES}")
        for name, count in _long_functions(source).items():
            long_functions[f"{rel}::{name}"] = count
    return long_modules, long_functions


def _long_functions(source: str) -> dict[str, int]:
    """``{qualified name: lines of code}`` of the functions over the limit and without a "longer because"."""
    code = _code_lines(source)
    source_lines = source.splitlines()
    out = {}
    for name, node in _functions(ast.parse(source)):
        count = sum(1 for line in range(node.lineno, node.end_lineno + 1) if line in code)
        if count > MAX_FUNCTION_LINES and not _is_exempt(node, source_lines):
            out[name] = count
    return out


def test_modules_and_functions_are_short() -> None:
    long_modules, long_functions = _measure()
    offenders = long_modules + [
        f"nnunetv2_cta/{key}: {count} lines of code > {MAX_FUNCTION_LINES}"
        for key, count in long_functions.items()
        if key not in PENDING_SPLIT
    ]
    assert not offenders, (
        f"over {MAX_MODULE_LINES} lines per module or {MAX_FUNCTION_LINES} lines of code per function; split "
        "into well-named helpers, or put a '# longer because …' comment just above the def:\n  "
        + "\n  ".join(offenders)
    )


def test_pending_split_list_only_names_current_offenders() -> None:
    _, long_functions = _measure()
    stale = sorted(set(PENDING_SPLIT) - set(long_functions))
    assert not stale, "no longer too long; remove from PENDING_SPLIT:\n  " + "\n  ".join(stale)


def test_measure_counts_code_not_docstrings_or_comments() -> None:
    source = 'def f(x):\n    """Doc\n\n    more doc.\n    """\n    # comment\n\n    y = (x +\n         1)\n    return y\n'
    code = _code_lines(source)
    assert sorted(code) == [1, 8, 9, 10]


def _function_source(n_statements: int, above: str = "", decorated: bool = False) -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(n_statements))
    head = above + ("@staticmethod\n" if decorated else "")
    return f'class C:\n    pass\n\n\n{head}def f():\n    """Doc."""\n\n    # note\n{body}'


@pytest.mark.parametrize(
    ("statements", "above", "decorated", "expected"),
    [
        (MAX_FUNCTION_LINES - 1, "", False, {}),  # def line + statements = the limit: fine
        (MAX_FUNCTION_LINES, "", False, {"f": MAX_FUNCTION_LINES + 1}),
        (MAX_FUNCTION_LINES, "# longer because one table reads best in one piece\n", False, {}),
        (MAX_FUNCTION_LINES, "# longer because it is a table\n", True, {}),  # comment above the decorator
        (MAX_FUNCTION_LINES, "# longer, because\n", False, {"f": MAX_FUNCTION_LINES + 1}),
    ],
)
def test_long_functions_flags_and_exempts(statements, above, decorated, expected) -> None:
    assert _long_functions(_function_source(statements, above, decorated)) == expected
