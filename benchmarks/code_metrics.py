"""Code metrics of the product packages, for the layering work and its successors.

Measures, per package (optcompare, optimizers, workloads, tuning, analysis): modules, lines, the
longest functions, function-local imports (of project packages, and of all packages; imports
under ``if TYPE_CHECKING:`` do not count), ``# type: ignore`` comments (and how many carry no
reason after them), and README.md's lines. Static reading only (``ast``), nothing is imported.

    .venv/bin/python benchmarks/code_metrics.py [--at COMMIT]

With ``--at`` it measures that commit's tree (``git archive`` into a temporary directory), so a
before/after pair is two runs of one script. The record goes to
benchmarks/results/code_metrics[-COMMIT].json.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

PACKAGES = ("optcompare", "optimizers", "workloads", "tuning", "analysis")
ROOT = Path(__file__).resolve().parent.parent


def _local_imports(tree: ast.Module) -> tuple[int, int]:
    """(function-local imports of project packages, all function-local imports)."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    project = every = 0
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        up, local, type_only = node, False, False
        while up in parents:
            up = parents[up]
            local |= isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef))
            type_only |= isinstance(up, ast.If) and "TYPE_CHECKING" in ast.unparse(up.test)
        if not local or type_only:
            continue
        every += 1
        if isinstance(node, ast.ImportFrom):
            name = node.module or ""
            relative = node.level > 0
        else:
            name, relative = node.names[0].name, False
        project += relative or name.split(".")[0] in PACKAGES
    return project, every


def measure(root: Path) -> dict:
    """The metrics of the tree at ``root`` (module docstring)."""
    packages: dict[str, dict] = {}
    functions: list[tuple[int, str]] = []
    for package in PACKAGES:
        files = sorted((root / package).rglob("*.py"))
        lines = project = every = ignores = bare = 0
        for path in files:
            text = path.read_text()
            tree = ast.parse(text)
            lines += len(text.splitlines())
            p, e = _local_imports(tree)
            project, every = project + p, every + e
            for line in text.splitlines():
                if "# type: ignore" in line:
                    ignores += 1
                    bare += "#" not in line.split("# type: ignore", 1)[1]
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    where = f"{path.relative_to(root)}:{node.name}"
                    functions.append((node.end_lineno - node.lineno + 1, where))
        subpackages = sorted({p.parent.name for p in files if p.parent != root / package})
        packages[package] = {
            "modules": sum(1 for p in files if p.name != "__init__.py"),
            "subpackages": subpackages,
            "lines": lines,
            "function_local_project_imports": project,
            "function_local_imports": every,
            "type_ignores": ignores,
            "type_ignores_without_reason": bare,
        }
    readme = root / "README.md"
    return {
        "packages": packages,
        "longest_functions": [{"lines": n, "function": f} for n, f in sorted(functions, reverse=True)[:10]],
        "readme_lines": len(readme.read_text().splitlines()) if readme.exists() else None,
    }


def _tree_at(commit: str, into: Path) -> Path:
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--at", help="a commit to measure instead of the working tree")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree_at(args.at, Path(tmp)) if args.at else ROOT
        metrics = measure(root)
    commit = args.at or subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip() + ("+" if subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet"]).returncode else "")
    record = {
        "benchmark": "code_metrics",
        "commit": commit,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **metrics,
    }
    out = ROOT / "benchmarks" / "results" / f"code_metrics{'-' + args.at if args.at else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    json.dump(record, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
