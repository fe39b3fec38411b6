"""The layout's rules (docs/architecture.md), checked on every run: the layers of .importlinter, no import
cycle between modules, and no import hidden inside a function to dodge one."""

import ast
import subprocess
import sys
from pathlib import Path

from scripts.import_cycles import PACKAGES, import_cycles

ROOT = Path(__file__).resolve().parent.parent
# Imports that must stay inside a function for a reason other than a cycle: Django calls ready() once the
# app registry is loaded, and a models import at module level would run before it.
ALLOWED_LOCAL_IMPORTS = {("dispatch/apps.py", "dispatch.roles")}


def _local_imports(path: Path, packages=PACKAGES) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [(node.lineno, name) for name in names if name.split(".")[0] in packages]
    return found


def test_it_keeps_the_layers_of_importlinter():
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(linter), "--no-cache", "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_it_has_no_import_cycle_between_modules():
    assert import_cycles() == []


def test_it_imports_project_modules_at_the_top_of_the_module():
    hidden = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            hidden += [
                f"{relative}:{line} imports {name} inside a function"
                for line, name in _local_imports(path)
                if (relative, name) not in ALLOWED_LOCAL_IMPORTS
            ]
    assert hidden == []


def test_the_checks_see_a_cycle_and_a_local_import(tmp_path, monkeypatch):
    """The checks can fail: a package of two modules that import each other, one inside a function."""
    package = tmp_path / "loopingpackage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from loopingpackage import second\n")
    (package / "second.py").write_text("def late():\n    from loopingpackage import first\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles(("loopingpackage",)) == [["loopingpackage.first", "loopingpackage.second"]]
    assert _local_imports(package / "second.py", ("loopingpackage",)) == [(2, "loopingpackage")]
