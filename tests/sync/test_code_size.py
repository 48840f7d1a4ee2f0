"""The style rules of sync/: no module over 450 lines, no function over 60 (one concept per file)."""
import ast
from pathlib import Path

SYNC = Path(__file__).resolve().parents[2] / "sync"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _offenders() -> list[str]:
    found = []
    for path in sorted(SYNC.rglob("*.py")):
        name = path.relative_to(SYNC.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n") + (not source.endswith("\n"))
        if lines > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source, name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno} {node.name}: {length} lines (at most {MAX_FUNCTION_LINES})")
    return found


def test_no_module_or_function_of_sync_is_over_the_limits():
    offenders = _offenders()
    assert not offenders, "over the limits:\n" + "\n".join(offenders)
