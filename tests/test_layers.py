"""The package's import contracts (pyproject.toml [tool.importlinter]), checked by import-linter itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports() -> list[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is not installed (pip install -e '.[test]')"
    return [exe]


def test_layers_and_no_import_loops():
    out = subprocess.run(lint_imports() + ["--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def test_a_forbidden_import_is_caught(tmp_path):
    # The contracts must be able to fail: a model file that imports the decoding layer breaks them.
    tree = tmp_path / "sam_cli"
    shutil.copytree(ROOT / "sam_cli", tree, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tree / "models" / "connector.py"
    bad.write_text(bad.read_text() + "\nfrom sam_cli.decoding import generate  # noqa\n")
    out = subprocess.run(lint_imports() + ["--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "sam_cli.models.connector -> sam_cli.decoding" in out.stdout
