"""The page of `musegan app`, built with Gradio: drop a MIDI file, hear and see the band.

Layout, top to bottom: the song (upload or an example) and its parts; the choices (the
model, i.e. the part you give, which of your parts it takes, the instruments to add, seed
and latent mode); the result (the labeled picture, three players: everything, your part
alone, the band alone; MIDI and WAV downloads; `musegan describe`'s table). A status
line under the button says what was done, or the CLI's one-line error.
"""
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import gradio as gr

from musegan.app import work
from musegan.nets.spec import LATENTS

__all__ = ["build", "THEME", "CSS"]

# System fonts: the default theme's web fonts would be fetched from the internet on every visit.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
CSS = "#status {min-height: 1.5em} #picture img {object-fit: contain}"
INTRO = ("### MuseGAN: hear the band around your part\n"
         "Drop a MIDI file (or pick an example), choose the part you give and the instruments to add, "
         "then **Make the band**. The band is MuseGAN's (Dong et al., AAAI 2018), trained on the RWC "
         "Music Database: non-commercial use, with attribution.")


def build(models: Dict[str, work.Model], examples: List[Path], workspace: Path) -> gr.Blocks:
    """The page, writing every run under `workspace` (a temporary folder of the app's)."""
    names = list(models)
    default_model = "piano" if "piano" in models else (names[0] if names else None)

    def load(path: Optional[str], given: Optional[str]):
        """The song's parts, the part the model takes and the instruments it can add."""
        if not path:
            return (None, [], gr.update(choices=[], value=[]), "")
        if given not in models:
            return (None, [], gr.update(choices=[], value=[]), "musegan app: error: no model to accompany with "
                    "(no experiment with weights; start it with --models DIR)")
        model = models[given]
        try:
            rows = work.song_parts(Path(path), model)
        except Exception as e:  # noqa: BLE001 - every problem is one line on the page
            return (None, [], gr.update(choices=[], value=[]), _error(e, path))
        choices = [(f"{r.index}: {r.name or '(unnamed)'} ({r.family}, {r.notes} notes)", r.index) for r in rows]
        try:
            chosen, note = work.default_parts(Path(path), model)
        except Exception as e:  # noqa: BLE001 - accompany would ask for --track: the page asks instead
            chosen, note = [], _error(e, path) + " (choose your part above)"
        return (path, [r.row() for r in rows], gr.update(choices=choices, value=chosen), note)

    def cleared():
        """The results, emptied: a new song or model must not show the last one's band."""
        return (None, None, None, None, gr.update(value=None, visible=False),
                gr.update(value=None, visible=False), "")

    def on_upload(file, given):
        return (*load(file, given), *cleared())

    def on_example(example, given):
        return (*load(str(example) if example else None, given), *cleared())

    def on_model(path, given):
        band = gr.update(choices=models[given].band, value=models[given].band) if given in models else gr.update()
        return (*load(path, given), *cleared(), band)

    def make(path, given, parts, band, seed, latents, progress=gr.Progress()):
        empty = cleared()
        if not path:
            return (*empty, "musegan app: error: drop a MIDI file or pick an example first")
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workspace))
        try:
            result = work.make_band(Path(path), models[given], run_dir, parts=parts or [],
                                    seed=int(seed or 0), latents=latents, band=band,
                                    name=Path(path).name, progress=lambda f, what: progress(f, desc=what))
        except Exception as e:  # noqa: BLE001 - every problem is one line on the page
            work.clear(run_dir)
            return (*empty, _error(e, path).replace(f"{run_dir}{os.sep}", ""))
        status = "  \n".join([*result.lines, *(f"warning: {w}" for w in result.warnings),
                              f"done in {result.seconds['total']:.1f} s"])
        return (str(result.picture), str(result.mix), str(result.yours), str(result.band),
                gr.update(value=str(result.midi), visible=True), gr.update(value=str(result.mix), visible=True),
                result.table, status)

    with gr.Blocks(title="MuseGAN: hear the band", analytics_enabled=False) as page:
        gr.Markdown(INTRO)
        song = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Your MIDI file (.mid)", file_types=[".mid", ".midi"], type="filepath",
                                 elem_id="upload")
                example = gr.Dropdown(choices=[(p.name, str(p)) for p in examples], value=None,
                                      label="or an example", elem_id="example")
            with gr.Column(scale=2):
                parts_table = gr.Dataframe(headers=work.PART_COLUMNS, label="Its parts", interactive=False,
                                           elem_id="parts")
        with gr.Row():
            model = gr.Dropdown(choices=names, value=default_model, label="The part you give (the model)",
                                elem_id="model")
            parts = gr.Dropdown(choices=[], value=[], multiselect=True, label="Your part (the model takes these)",
                                elem_id="your_part")
            band = gr.CheckboxGroup(choices=models[default_model].band if default_model else [],
                                    value=models[default_model].band if default_model else [],
                                    label="Instruments to add", elem_id="band")
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
            latents = gr.Radio(choices=[(f"{k}: {v}", k) for k, v in LATENTS.items()], value="style",
                               label="Latents", elem_id="latents")
        go = gr.Button("Make the band", variant="primary", elem_id="make")
        status = gr.Markdown("", elem_id="status")
        picture = gr.Image(label="The band", show_label=False, type="filepath", interactive=False,
                           elem_id="picture")
        with gr.Row():
            mix = gr.Audio(label="Everything", type="filepath", interactive=False, elem_id="audio_mix")
            yours = gr.Audio(label="Your part alone", type="filepath", interactive=False, elem_id="audio_yours")
            alone = gr.Audio(label="The band alone", type="filepath", interactive=False, elem_id="audio_band")
        with gr.Row():
            midi_button = gr.DownloadButton("Download MIDI", visible=False, elem_id="download_midi")
            wav_button = gr.DownloadButton("Download WAV", visible=False, elem_id="download_wav")
        table = gr.Markdown("", elem_id="describe")

        loaded = [song, parts_table, parts, status]
        results = [picture, mix, yours, alone, midi_button, wav_button, table]
        upload.change(on_upload, [upload, model], [*loaded, *results])
        example.change(on_example, [example, model], [*loaded, *results])
        model.change(on_model, [song, model], [*loaded, *results, band])
        go.click(make, [song, model, parts, band, seed, latents], [*results, status])
    return page


def _error(e: BaseException, path: str) -> str:
    """The CLI's line for `e`, naming an uploaded file by its name, not Gradio's cache path."""
    return work.error_line("accompany", e).replace(f"{Path(path).parent}{os.sep}", "")
