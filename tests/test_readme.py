"""The README's two commands: the main one writes a band, and the test command is what CI runs."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick, re.S)


def test_the_main_command_writes_the_band(tmp_path):
    install, command = _blocks()[0].split(" && ")
    assert install == "pip install -e ."
    args = shlex.split(command)
    assert args[:2] == ["musegan", "accompany"]
    out = tmp_path / args[args.index("--out") + 1]
    args[args.index("--out") + 1] = str(out)
    proc = subprocess.run([sys.executable, "-m", "musegan", *args[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 1000 and out.with_suffix(".png").stat().st_size > 1000
    assert "generated Drums, Guitar, Bass, Strings" in proc.stdout


def test_the_test_command_is_what_ci_runs():
    command = _blocks()[1]
    assert command == 'pip install -e ".[test]" && python -m pytest -q'
    assert (ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == command
