"""`musegan <command>`: the only module that sees argparse. Each command parses its arguments
and calls one typed library function; heavy modules (TensorFlow among them) are imported
only once the arguments are known, so a wrong argument answers at once."""
import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from musegan.arrange import Arranging
from musegan.errors import MuseganError
from musegan.nets.spec import LATENTS
from musegan.runtime import quiet_stderr, select_device

EPILOG = "Example:\n  "


def _setup(a) -> None:
    from musegan.experiment import setup

    setup(a.exp_dir, a.note, a.source)


def _collect(a) -> None:
    from musegan.config import load_config, load_experiment, load_params
    from musegan.music import collect

    config, params = load_experiment(a.exp) if a.exp is not None else (load_config(), load_params())
    summary = collect.run(a.in_dir, a.out, params, config, jobs=a.jobs, overwrite=a.overwrite)
    print(collect.summary_text(summary, collect.summary_path(Path(a.out))))


def _process(a) -> None:
    from musegan.music.data import process

    print(process(a.input, a.output, a.overwrite))


def _train(a) -> None:
    from musegan.runtime import exit_if_stopped, gpu_notice
    from musegan.training.loop import train

    if a.backend == "tf":
        with quiet_stderr():
            from musegan.training import tf_backend  # noqa: F401 (TensorFlow's start-up noise held back)
        gpu_notice(a.gpu)
    result = train(a.exp_dir, backend=a.backend, steps=a.steps, stop_step=a.stop_step, minutes=a.minutes)
    exit_if_stopped(result["stopped_by"])


def _import_state(a) -> None:
    with quiet_stderr():
        from musegan.training.transfer import import_state
    import_state(a.exp_dir, a.state, overwrite=a.overwrite)


def _export_state(a) -> None:
    with quiet_stderr():
        from musegan.training.transfer import export_state
    export_state(a.exp_dir, a.out, with_adam=a.with_adam, overwrite=a.overwrite, step=a.step)


def _average_states(a) -> None:
    from musegan.weights.averaging import average_state_files

    average_state_files(a.out, a.states, overwrite=a.overwrite)


def _average_generators(a) -> None:
    from musegan.weights.averaging import average_generators

    average_generators(a.out, a.generators, overwrite=a.overwrite)


def _generation(kind: str) -> Callable:
    def run(a) -> None:
        with quiet_stderr():
            from musegan import generate
        getattr(generate, kind)(a.exp_dir, runs=a.runs, rows=a.rows, columns=a.columns, lower=a.lower,
                                upper=a.upper, condition=a.condition, seed=a.seed, wav=a.wav,
                                overwrite=a.overwrite)
    return run


def _export(a) -> None:
    with quiet_stderr():
        from musegan.weights.export import export_generator, parse_steps
    steps = parse_steps(a.steps) if a.steps else None
    export_generator(a.exp_dir, steps=steps, live=a.live, to=a.to, overwrite=a.overwrite)


def _evaluate(a) -> None:
    from musegan.evaluate import evaluate

    evaluate(a.exp_dir, data=a.data, out=a.out, bars=a.bars, condition_dir=a.condition_dir,
             binarization=a.binarize, seed=a.seed, by_song=a.by_song, overwrite=a.overwrite)


def _accompany(a) -> None:
    from musegan.accompany import accompany

    accompany(a.input, a.exp, a.out, track=a.track, seed=a.seed, latent=a.latents, binarization=a.binarize,
              wav=a.wav, overwrite=a.overwrite, band=a.band.split(",") if a.band is not None else None,
              meter_mode=a.meter, shift=a.downbeat_shift, beats_mode=a.beats,
              arranging=Arranging(a.style_candidates, a.phrase_candidates, a.rests))



def _app(a) -> None:
    from musegan.app import launch

    launch(models=a.models, host=a.host, port=a.port, max_upload_mb=a.max_upload_mb)


def _describe(a) -> None:
    from musegan.describe import report

    text, _ = report(a.files, a.exp, a.reference, a.reference_dir)
    print(text)


def _render(a) -> None:
    from musegan.music.audio import render_file

    print(render_file(a.input, a.output, a.soundfont, a.overwrite))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musegan",
        description="MuseGAN: multi-track music generation and accompaniment (Dong et al., AAAI 2018).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, example: str, run: Callable, check_exp: bool = False):
        p = sub.add_parser(name, help=help, description=help, epilog=EPILOG + example,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=run, check_exp=check_exp)
        return p

    p = command("setup", "Create an experiment folder from the default config.yaml and params.yaml.",
                "musegan setup exp/my_run --note 'hybrid, 48 steps/bar'", _setup)
    p.add_argument("exp_dir", type=Path)
    p.add_argument("--note", required=True, help="what the experiment is for (exp_note.txt)")
    p.add_argument("--from", dest="source", type=Path, default=None,
                   help="copy config/params from this experiment instead of the defaults")

    p = command("collect", "Collect 4-bar training phrases from a folder of MIDI files into a sparse npz "
                "(1/4 and 2/4 marks read as 4-beat bars, as accompany does).",
                "musegan collect path/to/midi data/train_x_mine.npz", _collect)
    p.add_argument("in_dir", type=Path, help="folder searched recursively for .mid/.midi/.kar")
    p.add_argument("out", type=Path, help="output .npz (published LPD sparse format)")
    p.add_argument("--exp", type=Path, default=None, help="take params/config from this experiment")
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    p.add_argument("--overwrite", action="store_true")

    p = command("process", "Convert a dataset (sparse npz, dense npy or packed cache) into the fast packed cache.",
                "musegan process data/train_x_lpd_5_phr.npz data/train_x_lpd_5_phr_packed.npz", _process)
    p.add_argument("input", type=Path, help="sparse npz (published LPD format), dense bool .npy or packed cache")
    p.add_argument("output", type=Path, help="output packed cache (.npz, uncompressed)")
    p.add_argument("--overwrite", action="store_true")

    p = command("train", "Train (or resume) the model of an experiment folder. The tf backend keeps checkpoints "
                "in EXP_DIR/model/, the jax backend (JAX without TensorFlow) training states in EXP_DIR/state/; "
                "`import-state` and `export-state` move a run from one to the other.",
                "musegan train exp/default --gpu 0\n"
                "  musegan train exp/accompaniment/piano --backend jax --stop-step 3200 --minutes 30",
                _train, check_exp=True)
    p.add_argument("exp_dir", type=Path)
    p.add_argument("--backend", choices=("tf", "jax"), default="tf",
                   help="tf: TensorFlow graph mode (default); jax: one jitted call per iteration")
    p.add_argument("--gpu", default=None, help="GPU number (sets CUDA_VISIBLE_DEVICES); CPU when none")
    p.add_argument("--steps", type=int, default=None,
                   help="override config 'steps' (the end of training and of the learning-rate decay)")
    p.add_argument("--stop-step", type=int, default=None,
                   help="stop at this global step; the learning-rate decay still ends at config 'steps' "
                        "(a short run on the schedule of a long one)")
    p.add_argument("--minutes", type=float, default=None,
                   help="stop (saving) after this many minutes from the start, loading and compiling included")

    p = command("import-state", "Write a training state (of the jax backend, export-state or average-states) as a "
                "checkpoint in EXP_DIR/model/ at the state's step, for the tf backend and the commands that generate.",
                "musegan import-state exp/accompaniment/piano exp/accompaniment/piano/state\n"
                "  musegan import-state exp/accompaniment/piano exp/accompaniment/piano/best", _import_state,
                check_exp=True)
    p.add_argument("exp_dir", type=Path)
    p.add_argument("state", type=Path, help="state folder (state-00.npz, ...), one npz, or a folder of states "
                                            "step-STEP/ such as EXP_DIR/state (its latest)")
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint at the same or a later step")

    p = command("export-state", "Write the latest checkpoint of EXP_DIR (or the one of --step) as a training "
                "state folder (to continue with the jax backend, or to average).",
                "musegan export-state exp/accompaniment/piano exp/accompaniment/piano/state/step-1200 --with-adam"
                "   # then: musegan train exp/accompaniment/piano --backend jax\n"
                "  for n in 2000 3000 4000; do musegan export-state EXP s$n --step $n; done && "
                "musegan average-states avg s2000 s3000 s4000", _export_state, check_exp=True)
    p.add_argument("exp_dir", type=Path)
    p.add_argument("out", type=Path, help="output folder for state-00.npz, ...")
    p.add_argument("--step", type=int, default=None, help="the checkpoint of this step (default: the latest)")
    p.add_argument("--with-adam", action="store_true", help="include Adam's moments (3x the size)")
    p.add_argument("--overwrite", action="store_true")

    p = command("average-states", "Average the weights of training states of one model (checkpoint averaging: "
                "smoother output, e.g. fewer one-step notes); Adam's moments are dropped.",
                "musegan average-states avg runs/piano runs/piano_continued && "
                "musegan import-state exp/my_copy avg", _average_states)
    p.add_argument("out", type=Path, help="output folder for state-00.npz, ...")
    p.add_argument("states", type=Path, nargs="+", metavar="STATE", help="state folders or npz files (two or more)")
    p.add_argument("--overwrite", action="store_true")

    p = command("average-generators", "Average shipped generators (pretrained/generator.npz) of one model: a "
                "weight soup of one lineage, such as a model and its fine-tune.",
                "musegan average-generators soup.npz old/pretrained/generator.npz "
                "exp/accompaniment/piano/pretrained/generator.npz", _average_generators)
    p.add_argument("out", type=Path, help="output generator.npz")
    p.add_argument("generators", type=Path, nargs="+", metavar="GENERATOR", help="generator.npz files (two or more)")
    p.add_argument("--overwrite", action="store_true")

    p = command("infer", "Generate samples from a trained experiment into EXP_DIR/results/inference.",
                "musegan infer exp/default --runs 2 --rows 4 --columns 4", _generation("infer"), check_exp=True)
    _add_generation_args(p, 4)

    p = command("interpolate", "Interpolate between latent points into EXP_DIR/results/interpolation.",
                "musegan interpolate exp/default --rows 5 --columns 5", _generation("interpolate"), check_exp=True)
    _add_generation_args(p, 5)

    p = command("export", "Write the generator of an experiment's latest checkpoint (or the mean of several: "
                "checkpoint averaging) to EXP_DIR/pretrained/generator.npz, the weights a user needs to generate.",
                "musegan export exp/accompaniment/piano\n"
                "  musegan export runs/my_run --steps 2000:3600:200 --to exp/my_model   # then evaluate exp/my_model",
                _export, check_exp=True)
    p.add_argument("exp_dir", type=Path)
    p.add_argument("--steps", default=None, metavar="FIRST:LAST:EVERY",
                   help="the mean of the generators (their EMA where kept) at these checkpoint steps, e.g. "
                        "2000:3600:200 or 2000,2400,3000 (default: the latest checkpoint alone)")
    p.add_argument("--live", action="store_true",
                   help="take the generator's live weights, not the EMA the checkpoints keep (ema_decay): "
                        "averaging smooths away rare figures, e.g. off-grid drum hits")
    p.add_argument("--to", type=Path, default=None, metavar="DIR",
                   help="write DIR/pretrained/generator.npz and EXP_DIR's yaml files into DIR: a folder that "
                        "generates, accompanies and evaluates with these weights (EXP_DIR itself uses its "
                        "checkpoints first)")
    p.add_argument("--overwrite", action="store_true")

    p = command("evaluate", "Objective metrics (EB, UPC, QN, DP, TD) of a model or of a dataset.",
                "musegan evaluate exp/accompaniment/piano --bars 2000\n"
                "  musegan evaluate --data data/train_x_rwc_phr.npz --out results/rwc", _evaluate, check_exp=True)
    p.add_argument("exp_dir", type=Path, nargs="?", default=None)
    p.add_argument("--data", type=Path, default=None, help="evaluate this dataset alone")
    p.add_argument("--out", type=Path, default=None, help="output folder (default EXP_DIR/results/evaluation)")
    p.add_argument("--bars", type=int, default=20000, help="bars to generate (default 20000, as in the paper)")
    p.add_argument("--condition-dir", type=Path, default=None, help="MIDI files to condition on")
    p.add_argument("--binarize", choices=("hard", "bernoulli"), default=None,
                   help="of the model's output (default: the config's binarize)")
    p.add_argument("--seed", type=int, default=None,
                   help="of the latent vectors (default: the config's seed; the held-out split and "
                        "the conditions stay)")
    p.add_argument("--by-song", action="store_true",
                   help="a conditional model: also the metrics per song of the given phrases, the song's "
                        "own beside the model's (by_song.md, by_song.json)")
    p.add_argument("--gpu", default=None)
    p.add_argument("--overwrite", action="store_true")

    p = command("accompany", "Write the band around your own MIDI track, phrase by phrase, for the whole song.",
                "musegan accompany examples/piano_example.mid --exp exp/accompaniment/piano --out out.mid\n"
                "  musegan accompany my_songs/ --exp exp/accompaniment/piano --out bands/   # every file below",
                _accompany)
    p.add_argument("input", type=Path, help="your MIDI file, or a folder: every MIDI file below it")
    p.add_argument("--exp", type=Path, required=True, help="a track-conditional experiment folder")
    p.add_argument("--out", type=Path, required=True,
                   help="output .mid (a .png is written beside it); with a folder INPUT, a folder")
    p.add_argument("--track", default=None,
                   help="your part: track index, name or family (default: the model's family, else the part "
                        "that best plays its role)")
    p.add_argument("--beats", choices=("auto", "file", "notes"), default="auto",
                   help="auto (default): the file's tempo map and bars when your notes sit on them, else beats "
                        "and bars tracked from the notes (a transcription, a recording without a click); file: "
                        "always the file's; notes: always tracked (the output gets a tempo map that follows them)")
    p.add_argument("--meter", choices=("auto", "4/4"), default="auto",
                   help="auto (default): 4/4 and 2/2 bars as written, 1/4 and 2/4 marks regrouped into 4-beat "
                        "bars; 4/4: 4-beat bars on any file (3/4, 6/8, 12/8 too: your choice)")
    p.add_argument("--downbeat-shift", type=int, default=0, metavar="BEATS",
                   help="move the bar lines of regrouped or tracked beats this many beats later (negative: "
                        "earlier)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--latents", choices=tuple(LATENTS), default="style",
                   help="per phrase: style (default) keeps the band's style for the song and varies how the "
                        "parts move; song repeats one latent; phrase draws all anew")
    p.add_argument("--band", default=None, metavar="NAME[,NAME...]",
                   help="only these generated tracks, e.g. drums,bass (default: all the model writes)")
    p.add_argument("--style-candidates", type=int, default=Arranging.style_candidates, metavar="N",
                   help="with --latents style: the band's style is the one of N that best fits your first phrases "
                        "(fit, a texture like the training songs', a steady groove); "
                        "1 = the one drawn (default %(default)s)")
    p.add_argument("--phrase-candidates", type=int, default=Arranging.phrase_candidates, metavar="N",
                   help="with --latents style: each phrase is the one of N that best continues the phrase before "
                        "(or the one it repeats) while fitting yours, the drums holding each section's groove; "
                        "1 = the one drawn (default %(default)s)")
    p.add_argument("--rests", type=float, default=Arranging.rests, metavar="X",
                   help="instruments drop out where your part thins out or a section ends, until each rests in X "
                        "times the share of bars it rests in the training songs (about 6%% for bass); "
                        "2 = a sparser band, 0 = they play every bar (default %(default)s)")
    p.add_argument("--binarize", choices=("hard", "bernoulli"), default=None)
    p.add_argument("--wav", action="store_true", help="also render OUT.wav")
    p.add_argument("--overwrite", action="store_true")

    p = command("describe", "Describe accompaniments in numbers: notes per bar, lengths, rests, pitch classes, "
                "and how the generated tracks sit with the given part (and the original song).",
                "musegan describe band.mid --exp exp/accompaniment/piano --reference my_song.mid\n"
                "  musegan describe out/*.mid --exp exp/accompaniment/piano --reference-dir my_songs/", _describe)
    p.add_argument("files", type=Path, nargs="+", help="files written by `musegan accompany --exp EXP`")
    p.add_argument("--exp", type=Path, required=True, help="the experiment that wrote them")
    p.add_argument("--reference", type=Path, default=None, help="the original song (one file)")
    p.add_argument("--reference-dir", type=Path, default=None,
                   help="folder searched for each file's original song by file name")

    p = command("app", "A local web page: drop a MIDI file, hear and see the band, download it "
                "(needs `pip install -e \".[app]\"`).",
                "musegan app    # then open http://127.0.0.1:7860", _app)
    p.add_argument("--models", type=Path, default=None,
                   help="folder of accompaniment experiments, one per given part (default: exp/accompaniment)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0: the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-upload-mb", type=float, default=4.0, help="largest MIDI file accepted (default 4)")

    p = command("render", "Render a MIDI file to audio (FluidSynth if installed, else sine synthesis).",
                "musegan render out.mid out.wav", _render)
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--soundfont", type=Path, default=None)
    p.add_argument("--overwrite", action="store_true")
    return parser


def _add_generation_args(p: argparse.ArgumentParser, size: int) -> None:
    p.add_argument("exp_dir", type=Path)
    p.add_argument("--runs", type=int, default=1, help="how many grids to generate")
    p.add_argument("--rows", type=int, default=size)
    p.add_argument("--columns", type=int, default=size)
    p.add_argument("--lower", type=float, default=-2.0, help="truncated normal lower bound")
    p.add_argument("--upper", type=float, default=2.0, help="truncated normal upper bound")
    p.add_argument("--condition", type=Path, default=None, help="condition track from a MIDI or npz file")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--gpu", default=None)
    p.add_argument("--wav", action="store_true", help="also render each sample to .wav")
    p.add_argument("--overwrite", action="store_true")


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    select_device(getattr(args, "gpu", None))
    try:
        if args.check_exp and args.exp_dir is not None:
            # config.yaml/params.yaml errors answer at once, before TensorFlow is imported
            from musegan.config import load_experiment

            load_experiment(args.exp_dir)
        args.run(args)
    except MuseganError as e:
        print(f"musegan {args.command}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print(f"musegan {args.command}: interrupted", file=sys.stderr)
        sys.exit(130)


def run() -> None:
    """The `musegan` program: `main`, then exit without the interpreter's teardown.

    Every result is written atomically and closed by then, and with TensorFlow
    loaded the teardown alone takes about a second (bench/accompany.py).
    """
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):  # sys.exit("message") prints the message, exit status 1
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
