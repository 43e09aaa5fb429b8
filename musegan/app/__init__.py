"""`musegan app`: a local web page where a musician drops a MIDI file and hears the band.

    musegan app [--models exp/accompaniment] [--host 127.0.0.1] [--port 7860] [--max-upload-mb 4]

Needs the `app` extra (`pip install -e ".[app]"`: Gradio). It listens on this computer
only unless `--host` says otherwise, runs on a CPU, and in a notebook (Jupyter, Colab)
shows the page inline. Uploads are refused past `--max-upload-mb` and, with every file
the page writes, live in one temporary folder that is removed when the app stops.
"""
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from musegan.errors import UsageError

__all__ = ["launch"]

INSTALL = 'pip install -e ".[app]"'


def launch(models: Optional[Path] = None, host: str = "127.0.0.1", port: Optional[int] = 7860,
           max_upload_mb: float = 4.0, examples: Optional[Path] = None, block: bool = True):
    """Start the page's server and return the Gradio app (`.close()` stops it; `.local_url`;
    `.workspace`: the temporary folder holding everything it receives and writes).

    `models`: a folder of accompaniment experiments (default exp/accompaniment); `port`
    None picks a free one; `block`: serve until interrupted (the command), else return at
    once (notebooks, tests). UsageError (one line) without Gradio or without any model.
    """
    if max_upload_mb <= 0:
        raise UsageError(f"--max-upload-mb {max_upload_mb}: must be above 0")
    from musegan.app import work

    found = work.find_models(models)
    if not found:
        where = models or "exp/accompaniment"
        raise UsageError(f"{where}: no accompaniment experiment with weights; pass --models DIR")
    workspace = Path(tempfile.mkdtemp(prefix="musegan-app-"))
    atexit.register(shutil.rmtree, workspace, ignore_errors=True)
    # Gradio keeps uploads and what it serves in its cache: inside the app's own folder too.
    os.environ["GRADIO_TEMP_DIR"] = str(workspace / "gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from musegan.app.page import CSS, THEME, build
    except ImportError as e:
        raise UsageError(f"the app needs Gradio ({e.name or e} is missing): {INSTALL}") from None
    page = build(found, work.find_examples(examples), workspace)
    page.workspace = workspace
    page.queue(default_concurrency_limit=1)  # one band at a time: a laptop has one model in memory
    print(f"musegan app: models {', '.join(found)}; files in {workspace} (removed on exit)", file=sys.stderr)
    page.launch(server_name=host, server_port=port, max_file_size=int(max_upload_mb * 2 ** 20), theme=THEME, css=CSS,
                prevent_thread_lock=not block, share=False, show_error=False, quiet=not block,
                allowed_paths=[str(workspace)])
    return page
