"""`musegan app`: what the page does (musegan.app.work), and the page itself in a real browser.

The browser test runs Debian's Chromium headless through Playwright (.ci/run installs it)
against the app on 127.0.0.1. It writes screenshots of the page before and after an
upload, and of an error, into results/test_app/ (the README's picture of the page is one).
"""
import io
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import mido
import pytest

from musegan.app import work
from musegan.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "piano_example.mid"
SHOTS = ROOT / "results" / "test_app"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless Chromium on a machine without a network: no first-run, sync, update or QUIC attempts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def models():
    found = work.find_models(ROOT / "exp" / "accompaniment")
    assert "piano" in found, "the shipped piano model is needed"
    return found


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2 and w.getnframes() > 0
        return w.getnframes() / w.getframerate()


# --------------------------------------------------------------------------- what the page does


def test_parts_of_a_song_and_the_part_accompany_takes(models, make_midi):
    from conftest import band

    path = make_midi("three.mid", band(4, "dpb"))
    rows = work.song_parts(path, models["piano"])
    assert [(r.index, r.name, r.family, r.notes, r.bars) for r in rows] == [
        (0, "Drums", "drums", 16, "4 of 4"), (1, "Piano", "piano", 16, "4 of 4"), (2, "Bass", "bass", 8, "4 of 4")]
    assert rows[2].instrument == "Electric Bass (finger) (bass)" and rows[0].instrument == "Drums (drums)"
    assert work.default_parts(path, models["piano"]) == ([1], "")       # as `musegan accompany` chooses
    assert work.default_parts(path, models["bass"]) == ([2], "")
    parts, note = work.default_parts(path, models["guitar"])         # no guitar: the part playing its role
    assert parts == [1] and note.startswith("no guitar part: taking track 1 'Piano'") and "--track" in note


def test_make_band_writes_only_into_its_run_folder(models, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    steps = []
    result = work.make_band(EXAMPLE, models["piano"], run, seed=0, band=["drums", "bass"],
                            name="../../My song!.mid", progress=lambda f, what: steps.append(f))
    assert steps == sorted(steps) and len(steps) >= 3
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["run", "My_song.mid", "My_song_band.mid", "My_song_band.png", "My_song_band.wav", "My_song_yours.wav",
         "My_song_band_only.wav"])
    names = [next((m.name for m in t if m.type == "track_name"), "") for t in mido.MidiFile(result.midi).tracks]
    assert names[1:] == ["Drums", "Piano", "Bass"]
    song = mido.MidiFile(EXAMPLE).length
    for wav in (result.mix, result.yours, result.band):
        assert song <= wav_seconds(wav.read_bytes()) <= song + 3.5
    assert "| Drums |" in result.table and "| Bass |" in result.table and "Guitar" not in result.table
    assert not any(str(tmp_path) in line for line in result.lines)   # the run folder is not shown


def test_errors_are_the_cli_lines(models, tmp_path):
    broken = tmp_path / "broken.mid"
    broken.write_text("not music")
    with pytest.raises(DataError) as caught:
        work.song_parts(broken, models["piano"])
    line = work.error_line("accompany", caught.value)
    assert line.startswith(f"musegan accompany: error: {broken}: ") and "\n" not in line
    with pytest.raises(UsageError, match="--band flute"):
        work.make_band(EXAMPLE, models["piano"], tmp_path, band=["flute"])
    odd = work.error_line("accompany", ValueError("bad value\nTraceback (most recent call last)"))
    assert odd == "musegan accompany: error: unexpected ValueError: bad value"


def test_safe_stem_keeps_names_inside_the_run_folder():
    assert work.safe_stem("../../etc/passwd.mid") == "passwd"
    assert work.safe_stem("My Song (live).MID") == "My_Song_live"
    assert work.safe_stem("....mid") == "song"


def test_the_command_without_models_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "musegan", "app", "--models", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"musegan app: error: {tmp_path}: no accompaniment experiment with weights; pass --models DIR"]


# --------------------------------------------------------------------------- the page, in a browser


def audio_seconds(page, player: str, wait_s: float = 30) -> float:
    """The duration the browser decoded for the player's audio (its waveform player keeps the
    <audio> in a shadow root, which Playwright's selectors pierce); 0 if none within `wait_s`."""
    for _ in range(int(wait_s * 4)):
        durations = page.eval_on_selector_all(f"{player} audio", "els => els.map(a => a.duration || 0)")
        if max(durations, default=0) > 0:
            return max(durations)
        page.wait_for_timeout(250)
    return 0.0


@pytest.fixture(scope="module")
def app():
    pytest.importorskip("gradio", reason='the app extra is not installed: pip install -e ".[app]"')
    from musegan.app import launch

    page = launch(ROOT / "exp" / "accompaniment", port=None, block=False, max_upload_mb=0.05)
    yield page
    page.close()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is in the test extra")
    assert Path(CHROMIUM).is_file(), "Chromium is missing: apt-get install chromium (.ci/run does)"
    with playwright.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
                                                       accept_downloads=True)
        yield context
        context.close()


def test_the_app_listens_on_this_computer_only(app):
    assert app.server_name == "127.0.0.1" and app.local_url.startswith("http://127.0.0.1:")


def test_uploads_over_the_limit_are_refused(app):
    import httpx

    big = ("big.mid", b"MThd" + bytes(100_000), "audio/midi")  # 0.1 MB over this app's 0.05 MB
    answer = httpx.post(app.local_url + "gradio_api/upload", files={"files": big}, timeout=30)
    assert answer.status_code == 413
    assert not any(p.name == "big.mid" for p in app.workspace.rglob("*"))


@pytest.mark.slow
def test_upload_hear_see_and_download_the_band(app, browser, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page.goto(app.local_url)
    page.wait_for_selector("#make")
    page.screenshot(path=str(SHOTS / "before.png"), full_page=True)

    page.set_input_files("#upload input[type=file]", str(EXAMPLE))
    page.wait_for_function("document.querySelector('#parts').innerText.includes('Acoustic Grand Piano')",
                           timeout=60_000)
    assert "0: Piano (piano, 257 notes)" in page.inner_text("#your_part")   # accompany's own choice
    assert all(page.locator("#band").get_by_label(name).is_checked() for name in ("Drums", "Guitar", "Bass", "Strings"))
    page.click("#make")
    page.wait_for_selector("#picture img", timeout=180_000)
    page.wait_for_function("document.querySelector('#status').innerText.includes('done in')", timeout=60_000)
    page.wait_for_function("document.querySelector('#picture img').naturalWidth > 0")
    status = page.inner_text("#status")
    assert "piano_example.mid: your part 0 'Piano'" in status and "generated Drums, Guitar, Bass, Strings" in status
    assert "| Strings |" in page.inner_html("#describe") or "Strings" in page.inner_text("#describe")
    page.screenshot(path=str(SHOTS / "after.png"), full_page=True)

    # the picture as the page shows it: the labeled band, rows of 8 bars
    width = page.eval_on_selector("#picture img", "img => img.naturalWidth")
    assert width == 1282
    # the players: the browser decodes each (a playable WAV) to the song's length
    song = mido.MidiFile(EXAMPLE).length
    for player in ("#audio_mix", "#audio_yours", "#audio_band"):
        assert song <= audio_seconds(page, player) <= song + 3.5, player
        href = page.eval_on_selector(f"{player} a[download]", "a => a.href")
        data = page.request.get(href).body()
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", player
        assert song <= wav_seconds(data) <= song + 3.5, player
    # the downloads
    for button, check in (("#download_midi", lambda p: len(mido.MidiFile(p).tracks) == 6),
                          ("#download_wav", lambda p: song <= wav_seconds(Path(p).read_bytes()) <= song + 3.5)):
        with page.expect_download() as caught:
            page.click(button)
        saved = tmp_path / caught.value.suggested_filename
        caught.value.save_as(saved)
        assert check(saved), button
    assert {p.name for p in tmp_path.iterdir()} == {"piano_example_band.mid", "piano_example_band.wav"}

    # a broken file: the CLI's one line, no traceback
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"this is not a MIDI file")
    page.locator("#upload").get_by_label("Clear").click()  # the musician removes the song first
    page.set_input_files("#upload input[type=file]", str(broken))
    page.wait_for_function("document.querySelector('#status').innerText.includes('error')", timeout=60_000)
    line = page.inner_text("#status").strip()
    assert line == ("musegan accompany: error: broken.mid: not a MIDI file "
                    "(it does not start with 'MThd')"), line
    assert "Traceback" not in page.content()
    assert page.locator("#picture img").count() == 0     # the last song's band is gone
    page.screenshot(path=str(SHOTS / "error.png"), full_page=True)
    # everything the page wrote is in the app's temporary folder
    assert any(p.name == "piano_example_band.wav" for p in app.workspace.rglob("*"))
    page.close()
