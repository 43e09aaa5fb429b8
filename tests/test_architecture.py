"""The package's shape: dependencies point one way and no import cycles (the contracts in
.importlinter, checked by import-linter).

import-linter runs in its own process: in the suite's process, after TensorFlow has been
loaded by an earlier test, it left pytest's captured stderr closed, which ended the whole run.
"""
import os
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
