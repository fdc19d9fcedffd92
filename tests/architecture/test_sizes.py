"""Small modules and short functions (docs/development.md): no module over 600 lines, no
function whose code (its docstring left out) runs over 60 lines, except the Numba kernels
named here, whose docstrings say why they are one loop."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "policy_themes"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
ONE_LOOP_KERNELS = {"kernels.py:char_wb_columns"}


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the function's end, its docstring left out."""
    lines = function.end_lineno - function.lineno + 1
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def long_functions() -> dict[str, int]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{path.relative_to(PACKAGE)}:{node.name}"
                if code_lines(node) > MAX_FUNCTION_LINES and name not in ONE_LOOP_KERNELS:
                    found[name] = code_lines(node)
    return found


def test_no_function_runs_over_sixty_lines():
    assert long_functions() == {}


def test_the_exempt_kernels_say_why_in_their_docstrings():
    from policy_themes import kernels

    for name in ONE_LOOP_KERNELS:
        function = getattr(kernels, name.split(":")[1])
        assert "kept as one loop" in (function.__doc__ or "").lower(), name


def test_no_module_runs_over_six_hundred_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
