"""musegan.music.data: every readable format round-trips bit-exactly, bad files fail in one line."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musegan.music import data
from musegan.music import splits
from musegan.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (2, 6, 12, 3)  # n_bars, n_steps, n_pitches, n_tracks
DRUMS = [True, False, False]


def phrases(n=6, density=0.1, seed=0, shape=SHAPE):
    return np.random.default_rng(seed).random((n, *shape)) < density


def songs_of(n):
    ids = np.arange(n, dtype=np.int32) // 2
    return ids, [f"song {i} é" for i in range(ids.max() + 1)]


def sparse_file(tmp_path, name="x.npz", **arrays):
    path = tmp_path / name
    np.savez_compressed(path, **arrays)
    return path


# --------------------------------------------------------------------------- round trips


def test_sparse_round_trip_with_songs(tmp_path):
    x = phrases()
    ids, names = songs_of(len(x))
    path = data.write_sparse_npz(tmp_path / "x.npz", x, song_ids=ids, song_names=names)
    p = data.load_phrases(path)
    assert p.shape == SHAPE and len(p) == len(x)
    np.testing.assert_array_equal(p.unpack(), x)
    np.testing.assert_array_equal(p.song_ids, ids)
    assert p.song_ids.dtype == np.int32 and p.song_names == names


def test_sparse_is_what_the_original_code_reads(tmp_path):
    x = phrases()
    path = data.write_sparse_npz(tmp_path / "x.npz", x)
    # the original MuseGAN loader (a tuple where old numpy accepted a list of index arrays)
    with np.load(path) as loaded:
        dense = np.zeros(loaded["shape"], np.bool_)
        dense[tuple(i for i in loaded["nonzero"])] = True
    np.testing.assert_array_equal(dense, x)


def test_sparse_writer_is_deterministic_and_streaming_matches(tmp_path):
    x = phrases()
    ids, names = songs_of(len(x))
    a = data.write_sparse_npz(tmp_path / "a.npz", x, ids, names).read_bytes()
    b = data.write_sparse_npz(tmp_path / "b.npz", x, ids, names).read_bytes()
    nz = np.array(x.nonzero())
    c = data.write_sparse_npz_rows(tmp_path / "c.npz", x.shape, nz.shape[1],
                                   lambda r: np.array_split(nz[r], 3), ids, names).read_bytes()
    assert a == b == c


@pytest.mark.parametrize("layout", ["C", "F", "unsorted", "int32"])
def test_sparse_layouts_across_chunk_boundaries(tmp_path, monkeypatch, layout):
    monkeypatch.setattr(data, "CHUNK", 7)  # many chunks, runs of one byte split across them
    x = phrases(density=0.3)
    nz = np.array(x.nonzero())
    if layout == "F":
        nz = np.asfortranarray(nz)
    elif layout == "unsorted":
        nz = nz[:, np.random.default_rng(1).permutation(nz.shape[1])]
    elif layout == "int32":
        nz = nz.astype(np.int32)
    path = sparse_file(tmp_path, shape=x.shape, nonzero=nz)
    np.testing.assert_array_equal(data.load_phrases(path).unpack(), x)


def test_cache_round_trip_with_songs_and_padding(tmp_path):
    shape = (2, 3, 5, 3)  # 90 bits: the last byte carries 6 padding bits
    x = phrases(shape=shape, density=0.3)
    ids, names = songs_of(len(x))
    p = data.pack(x, ids, names)
    assert p.packed.shape == (len(x), 12) and p.packed.dtype == np.uint8
    np.testing.assert_array_equal(p.packed, np.packbits(x.reshape(len(x), -1), axis=1))
    path = data.save_cache(tmp_path / "c.npz", p)
    with zipfile.ZipFile(path) as zf:  # uncompressed, so it loads at disk speed
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    q = data.load_phrases(path)
    assert q.shape == shape and q.song_names == names
    np.testing.assert_array_equal(q.unpack(), x)
    np.testing.assert_array_equal(q.song_ids, ids)


@pytest.mark.parametrize("writer", [np.savez, np.savez_compressed])
def test_cache_maps_stored_members_and_reads_compressed_ones(tmp_path, writer):
    """A stored member is memory-mapped at its offset in the zip (our writer's or numpy's
    layout), a compressed one read; both give the same phrases, and rewriting the file
    leaves phrases already loaded intact."""
    x = phrases(shape=(2, 3, 5, 3), density=0.3)
    p = data.pack(x)
    path = tmp_path / "c.npz"
    writer(path, packed=p.packed, shape=np.array(p.shape, dtype=np.int64))
    q = data.load_phrases(path)
    np.testing.assert_array_equal(q.unpack(), x)
    data.save_cache(path.with_name("other.npz"), data.pack(np.zeros_like(x)))
    path.with_name("other.npz").replace(path)
    np.testing.assert_array_equal(q.unpack(), x)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(1, 7), min_size=4, max_size=4), st.integers(0, 2 ** 16))
def test_pack_unpack_any_shape(n, shape, seed):
    x = phrases(n=n, shape=tuple(shape), density=0.4, seed=seed)
    p = data.pack(x)
    np.testing.assert_array_equal(p.unpack(), x)
    idx = [n - 1, 0]
    np.testing.assert_array_equal(p.subset(idx).unpack(), x[idx])
    np.testing.assert_array_equal(p.unpack(idx), x[idx])


@pytest.mark.parametrize("order", ["C", "F"])
def test_dense_npy(tmp_path, order):
    x = phrases()
    path = tmp_path / "x.npy"
    np.save(path, np.asarray(x, order=order))
    p = data.load_phrases(path)
    assert p.song_ids is None and p.shape == SHAPE
    np.testing.assert_array_equal(p.unpack(), x)


def test_dense_integer_zero_one(tmp_path):
    x = phrases()
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    np.testing.assert_array_equal(data.load_phrases(tmp_path / "x.npy").unpack(), x)


# --------------------------------------------------------------------------- bad files


BAD_CASES = ["missing", "text", "no keys", "no shape", "shape ndim", "float nonzero", "rows", "out of bounds",
             "negative", "no phrases", "no notes", "song_ids", "song_names", "names dtype", "cache bytes",
             "cache dtype", "cache empty", "dense float", "dense ndim", "dense values", "truncated", "short member", "huge"]


def _bad_cases(tmp_path):
    """{case: (file, part of the message)}, files written under tmp_path."""
    x = phrases()
    nz = np.array(x.nonzero())
    cases = {
        "missing": (tmp_path / "nope.npz", "no such file"),
        "text": (tmp_path / "t.npz", "not an npz"),
        "no keys": (sparse_file(tmp_path, "k.npz", foo=np.zeros(3)), "expected keys"),
        "no shape": (sparse_file(tmp_path, "s.npz", nonzero=nz), "missing key 'shape'"),
        "shape ndim": (sparse_file(tmp_path, "d.npz", shape=x.shape[1:], nonzero=nz[1:]), "'shape' must be 5"),
        "float nonzero": (sparse_file(tmp_path, "f.npz", shape=x.shape, nonzero=nz.astype(float)), "integers"),
        "rows": (sparse_file(tmp_path, "r.npz", shape=x.shape, nonzero=nz[:4]), "'nonzero' has shape"),
        "out of bounds": (sparse_file(tmp_path, "o.npz", shape=(3, *SHAPE), nonzero=nz), "out of bounds"),
        "negative": (sparse_file(tmp_path, "g.npz", shape=x.shape, nonzero=nz - 1), "out of bounds"),
        "no phrases": (sparse_file(tmp_path, "z.npz", shape=(0, *SHAPE), nonzero=nz[:, :0]), "empty dataset"),
        "no notes": (sparse_file(tmp_path, "e.npz", shape=x.shape, nonzero=nz[:, :0]), "no notes"),
        "song_ids": (sparse_file(tmp_path, "i.npz", shape=x.shape, nonzero=nz,
                                 song_ids=np.zeros(len(x) - 1, np.int32)), "song_ids' has 5 entries for 6"),
        "song_names": (sparse_file(tmp_path, "n.npz", shape=x.shape, nonzero=nz, song_ids=np.arange(6),
                                   song_names=np.array(["a"])), "song_names"),
        "names dtype": (sparse_file(tmp_path, "b.npz", shape=x.shape, nonzero=nz, song_ids=np.zeros(6, int),
                                    song_names=np.array([b"a"])), "unicode"),
        "cache bytes": (sparse_file(tmp_path, "c.npz", shape=np.array(SHAPE), packed=np.ones((2, 5), np.uint8)),
                        "bytes per phrase"),
        "cache dtype": (sparse_file(tmp_path, "cd.npz", shape=np.array(SHAPE), packed=np.ones((2, 54))),
                        "must be uint8"),
        "cache empty": (sparse_file(tmp_path, "ce.npz", shape=np.array(SHAPE),
                                    packed=np.zeros((2, 54), np.uint8)), "no notes"),
        "dense float": (tmp_path / "f.npy", "bool"),
        "dense ndim": (tmp_path / "d.npy", "expected a (n, n_bars"),
        "dense values": (tmp_path / "v.npy", "only 0 and 1"),
        "truncated": (tmp_path / "trunc.npz", "damaged npz"),
        "short member": (tmp_path / "short.npz", "'nonzero' is truncated"),
        "huge": (sparse_file(tmp_path, "h.npz", shape=(10 ** 12, *SHAPE), nonzero=nz), "not enough memory"),
    }
    (tmp_path / "t.npz").write_text("hello")
    np.save(tmp_path / "f.npy", x.astype(np.float32))
    np.save(tmp_path / "d.npy", x[0])
    np.save(tmp_path / "v.npy", x.astype(np.int8) * 2)
    whole = data.write_sparse_npz(tmp_path / "whole.npz", phrases(n=50)).read_bytes()
    (tmp_path / "trunc.npz").write_bytes(whole[:len(whole) // 2] + whole[-200:])
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as zf:  # a header promising more than is there
        with zf.open("shape.npy", "w") as f:
            np.lib.format.write_array(f, np.array(x.shape))
        with zf.open("nonzero.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (5, 100)})
            f.write(np.zeros(10, np.int64).tobytes())
    assert sorted(cases) == sorted(BAD_CASES)
    return cases


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, case):
    path, problem = _bad_cases(tmp_path)[case]
    with pytest.raises(DataError) as e:
        data.load_phrases(path)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


class _Payload:
    """Unpickling this runs `_fire`: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_fire, (self.marker,))


def _fire(marker):
    Path(marker).write_text("unpickled!")
    return 0


@pytest.mark.parametrize("key", ["nonzero", "shape", "song_ids", "packed"])
def test_object_arrays_are_refused_without_unpickling(tmp_path, key):
    marker = tmp_path / "marker"
    evil = np.array([_Payload(str(marker)), 1], dtype=object)
    x = phrases()
    arrays = dict(shape=np.array(x.shape), nonzero=np.array(x.nonzero()), song_ids=np.arange(6))
    if key == "packed":
        arrays = dict(shape=np.array(SHAPE))
    arrays[key] = evil
    path = tmp_path / "evil.npz"
    np.savez(path, **arrays)
    # the payload really fires when unpickled, so the test below means something
    with np.load(path, allow_pickle=True) as f:
        f[key]
    assert marker.exists()
    marker.unlink()
    with pytest.raises(DataError, match="refusing to unpickle"):
        data.load_phrases(path)
    assert not marker.exists()
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    with pytest.raises(DataError, match="refusing to unpickle"):
        data.load_phrases(tmp_path / "evil.npy")
    assert not marker.exists()


# --------------------------------------------------------------------------- transposition


def _reference_transpose(x, shifts, is_drums):
    out = np.zeros_like(x)
    for i, s in enumerate(shifts):
        for t, drum in enumerate(is_drums):
            for p in range(x.shape[3]):
                q = p if drum else p + s
                if 0 <= q < x.shape[3]:
                    out[i, :, :, q, t] = x[i, :, :, p, t]
    return out


def test_transpose_matches_reference_and_drops_out_of_range():
    x = phrases(n=8, density=0.3)
    shifts = np.array([-5, -1, 0, 1, 6, 6, 11, -12])
    out = splits.transpose(x, shifts, DRUMS)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, _reference_transpose(x, shifts, DRUMS))
    np.testing.assert_array_equal(out[..., 0], x[..., 0])  # drums never move
    # shifting up by 1 drops exactly the notes on the top pitch
    n_top = x[3, :, :, -1, 1:].sum()
    assert out[3, ..., 1:].sum() == x[3, ..., 1:].sum() - n_top
    assert not out[7, ..., 1:].any()  # a full octave+ down a 12-pitch range leaves nothing


def test_transpose_scalar_shift():
    x = phrases(n=3, density=0.3)
    np.testing.assert_array_equal(splits.transpose(x, 2, DRUMS), _reference_transpose(x, [2] * 3, DRUMS))
    np.testing.assert_array_equal(splits.transpose(x, 0, DRUMS), x)


# --------------------------------------------------------------------------- split and batches


def test_split_by_song_never_splits_a_song_and_is_deterministic():
    x = phrases(n=40)
    ids = np.random.default_rng(3).integers(0, 9, 40).astype(np.int32)
    p = data.pack(x, ids, [f"s{i}" for i in range(9)])
    train, valid = splits.split_by_song(p, 0.25, seed=7)
    assert len(train) + len(valid) == 40 and len(train) and len(valid)
    assert not set(train.song_ids) & set(valid.song_ids)
    assert train.song_names == p.song_names
    again = splits.split_by_song(p, 0.25, seed=7)
    np.testing.assert_array_equal(again[1].packed, valid.packed)
    np.testing.assert_array_equal(again[1].song_ids, valid.song_ids)
    # a tiny fraction still holds one song out; a huge one leaves one in
    assert len(set(splits.split_by_song(p, 0.001, 0)[1].song_ids)) == 1
    assert len(set(splits.split_by_song(p, 0.999, 0)[0].song_ids)) == 1


def test_split_without_songs_is_by_phrase():
    p = data.pack(phrases(n=20))
    train, valid = splits.split_by_song(p, 0.1, seed=0)
    assert (len(train), len(valid)) == (18, 2)
    both = np.concatenate([train.unpack(), valid.unpack()])
    assert sorted(map(bytes, data.pack(both).packed)) == sorted(map(bytes, p.packed))
    train, valid = splits.split_by_song(p, 0.0, seed=0)
    assert (len(train), len(valid)) == (20, 0)


def test_load_splits_keeps_three_song_sets_apart(tmp_path):
    """validation_fraction holds songs out for the report, selection_fraction then keeps some of
    the rest out of fitting; at 0 the training split is the one load_training_data gave before."""
    x = phrases(n=60)
    ids = np.repeat(np.arange(12), 5).astype(np.int32)
    path = tmp_path / "d.npz"
    data.write_sparse_npz(path, x, song_ids=ids, song_names=[f"s{i}" for i in range(12)])
    config = {"data": str(path), "seed": 4, "validation_fraction": 0.2, "selection_fraction": 0.25}
    train, selection, valid = splits.load_splits(config)
    sets = [set(part.song_ids) for part in (train, selection, valid)]
    assert all(sets) and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set.union(*sets) == set(range(12)) and len(train) + len(selection) + len(valid) == 60
    fitted, held = splits.load_training_data(config)
    assert np.array_equal(fitted.packed, train.packed) and np.array_equal(held.packed, valid.packed)
    no_selection = splits.load_splits({**config, "selection_fraction": 0.0})
    assert no_selection[1] is None and np.array_equal(no_selection[2].packed, valid.packed)
    assert set(no_selection[0].song_ids) == sets[0] | sets[1]


# --------------------------------------------------------------------------- CLI and scripts


def _musegan(*args):
    return subprocess.run([sys.executable, "-m", "musegan", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_process_cli(tmp_path):
    x = phrases()
    ids, names = songs_of(len(x))
    src = data.write_sparse_npz(tmp_path / "x.npz", x, ids, names)
    out = tmp_path / "cache.npz"
    r = _musegan("process", src, out)
    assert r.returncode == 0, r.stderr
    q = data.load_phrases(out)
    np.testing.assert_array_equal(q.unpack(), x)
    assert q.song_names == names

    before = out.read_bytes()
    r = _musegan("process", src, out)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--overwrite" in r.stderr and str(out) in r.stderr
    assert out.read_bytes() == before
    assert _musegan("process", src, out, "--overwrite").returncode == 0

    (tmp_path / "bad.npz").write_text("not data")
    r = _musegan("process", tmp_path / "bad.npz", tmp_path / "o.npz")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "bad.npz" in r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_scripts_are_executable_bash():
    for name in ("process_data.sh", "download_data.sh"):
        script = ROOT / "scripts" / name
        assert os.access(script, os.X_OK)
        assert "set -euo pipefail" in script.read_text()


def test_download_without_network_is_one_line(tmp_path):
    if (ROOT / "data" / "train_x_lpd_5_phr.npz").exists():
        pytest.skip("already downloaded")
    # a gdown that fails like it does offline: a multi-line error
    fake = tmp_path / "gdown"
    fake.write_text("#!/bin/sh\necho 'Error:' >&2\necho '  Failed to resolve drive.google.com' >&2\n"
                    "echo 'Traceback (most recent call last):' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    before = set(os.listdir(ROOT / "data")) if (ROOT / "data").exists() else set()
    r = subprocess.run([str(ROOT / "scripts" / "download_data.sh")], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "could not download" in r.stderr
    assert set(os.listdir(ROOT / "data")) == before  # no partial file left behind
