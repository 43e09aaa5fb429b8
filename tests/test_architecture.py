"""The package's shape: dependencies point one way and no import cycles (the contracts in
.importlinter, checked by import-linter).

import-linter runs in its own process: in the suite's process, after TensorFlow has been
loaded by an earlier test, it left pytest's captured stderr closed, which ended the whole run.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")


def test_import_contracts_are_kept():
    proc = subprocess.run([sys.executable, "-c", LINT, os.fspath(ROOT / ".importlinter")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_no_module_is_over_500_lines():
    """A module that outgrows 500 lines holds more than one concern: split it by concern."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "musegan").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long


def test_the_repository_tells_no_history():
    """Docs and code say what things are; how they came to be belongs in git log: no numbered
    work periods, lettered tuning passes or per-period rule files. The letter after "round"
    is matched case-sensitively, so that English prose does not count."""
    pattern = re.compile(r"(?i:session [0-9]|rule[_]session)|\b[Rr]ound [A-Z]\b")
    found = [f"{path}:{n}" for path in sorted(ROOT.rglob("*"))
             if path.is_file() and path.suffix in (".py", ".md", ".sh", ".yaml", ".ipynb", ".txt", ".cfg", ".toml")
             and not {".git", "results", "data", "build"} & set(path.relative_to(ROOT).parts)
             and ".egg-info" not in str(path)
             for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if pattern.search(line)]
    assert not found, found
