"""Size figures for the API-layer redesign (issue 20): the largest modules and functions.

Run from the repository root: `.venv/bin/python scripts/code_metrics.py`. It reads the tracked
Python files as text (ast), so it measures the tree as checked out, nothing running.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path


def tracked_python_files(root: Path) -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    return [root / name for name in listing]


def function_sizes(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.end_lineno - node.lineno + 1, f"{path}:{node.lineno} {node.name}")
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def main() -> None:
    root = Path.cwd()
    files = tracked_python_files(root)
    modules = sorted(
        ((len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(root))) for p in files),
        reverse=True,
    )
    functions = sorted((size, where.replace(str(root) + "/", "")) for p in files for size, where in function_sizes(p))[
        ::-1
    ]
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("| largest modules (lines) | largest functions (lines) |")
    print("| --- | --- |")
    for (mlines, mname), (flines, fname) in zip(modules[:count], functions[:count], strict=False):
        print(f"| {mname} ({mlines}) | {fname} ({flines}) |")
    app = [s for s in functions if not s[1].startswith(("tests/", "bench/", "scripts/")) and "/migrations/" not in s[1]]
    print(f"\nlargest function outside tests, bench and migrations: {app[0][1]} ({app[0][0]} lines)")


if __name__ == "__main__":
    main()
