"""Datasets of phrases: read any dataset file into bit-packed phrases, write them back.

One entry point, `load_phrases(path)`, reads three formats:

- sparse npz (the published `train_x_lpd_5_phr.npz`): keys `shape` (5 ints) and
  `nonzero` (the `(5, nnz)` integer array of `x.nonzero()`), as written by
  `np.savez_compressed(f, shape=x.shape, nonzero=x.nonzero())`; our collected
  files add `song_ids` and `song_names` (see `write_sparse_npz`);
- dense `.npy`: bool `(n, n_bars, n_steps, n_pitches, n_tracks)`;
- packed cache (`save_cache`, `musegan process`): an uncompressed npz with keys
  `packed` (uint8 `(n, n_bytes)`), `shape` (4 ints) and the optional song keys.

In memory a dataset is `PackedPhrases`: one row of bits per phrase, 8x smaller
than bool, so the full published set (8.3 GB dense) takes 1.03 GB. Nothing is
ever unpickled: object arrays are refused from their header.
"""
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from musegan import atomic
from musegan.errors import DataError

PathLike = atomic.PathLike

# Elements per index row read at a time: ~12 MB of temporaries at int64.
CHUNK = 1 << 18
# Phrases packed at a time from a (memory-mapped) dense array.
DENSE_CHUNK = 512

_NPY_MAGIC = b"\x93NUMPY"


# --------------------------------------------------------------------------- packed form


@dataclass
class PackedPhrases:
    """Bit-packed binary phrases.

    `packed` is uint8 `(n, n_bytes)` = `np.packbits(x.reshape(n, -1), axis=1)` of
    the bool `x` of shape `(n, *shape)`: bit `j` of phrase `i` (`j` the C-order
    flat index within the phrase) is bit `7 - j % 8` (most significant first) of
    byte `packed[i, j // 8]`, and the padding bits of the last byte are zero.
    The training graph unpacks exactly this layout in TensorFlow
    (`(packed[..., None] >> [7, 6, ..., 0]) & 1`, then reshape), so keep it.

    `shape` is the phrase shape `(n_bars, n_steps, n_pitches, n_tracks)`.
    `song_ids` (int32 `(n,)`) names the song of each phrase; `song_names[i]` is
    the name of song id `i`. Both are None for data without songs.
    """

    packed: np.ndarray
    shape: Tuple[int, ...]
    song_ids: Optional[np.ndarray] = None
    song_names: Optional[List[str]] = None

    def __len__(self) -> int:
        return self.packed.shape[0]

    @property
    def n_bits(self) -> int:
        """Bits per phrase: `prod(shape)`."""
        return int(np.prod(self.shape))

    def unpack(self, indices=None) -> np.ndarray:
        """Bool `(k, *shape)` of the phrases at `indices` (all when None)."""
        rows = self.packed if indices is None else self.packed[np.asarray(indices)]
        rows = np.atleast_2d(rows)
        bits = np.unpackbits(rows, axis=1, count=self.n_bits)
        # unpackbits gives 0/1 bytes, so viewing them as bool is exact and copy-free
        return bits.view(bool).reshape(len(rows), *self.shape)

    def subset(self, indices) -> "PackedPhrases":
        """The phrases at `indices`; song names are kept whole (they are indexed by id)."""
        indices = np.asarray(indices, dtype=np.int64)
        ids = None if self.song_ids is None else self.song_ids[indices]
        return PackedPhrases(self.packed[indices], self.shape, ids, self.song_names)

    def density(self) -> float:
        """Fraction of bits set."""
        if len(self) == 0:
            return 0.0
        ones = _count_ones(self.packed)
        return ones / (len(self) * self.n_bits)


def _count_ones(packed: np.ndarray) -> int:
    """Number of set bits of a uint8 array, in chunks so a 1 GB array needs no 8 GB copy."""
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    flat = packed.reshape(-1)
    return int(sum(int(table[flat[i:i + (1 << 24)]].sum(dtype=np.int64))
                   for i in range(0, flat.size, 1 << 24)))


def pack(x: np.ndarray, song_ids=None, song_names=None) -> PackedPhrases:
    """Pack a bool `(n, n_bars, n_steps, n_pitches, n_tracks)` into `PackedPhrases`."""
    x = np.asarray(x)
    if x.ndim != 5:
        raise ValueError(f"expected (n, n_bars, n_steps, n_pitches, n_tracks), got shape {x.shape}")
    packed = np.packbits(x.reshape(len(x), -1).astype(bool, copy=False), axis=1)
    ids = None if song_ids is None else np.asarray(song_ids, dtype=np.int32)
    names = None if song_names is None else [str(s) for s in song_names]
    return PackedPhrases(packed, tuple(int(d) for d in x.shape[1:]), ids, names)


def _n_bytes(shape: Sequence[int]) -> int:
    return (int(np.prod(shape)) + 7) // 8


# --------------------------------------------------------------------------- npy headers


def _read_npy_header(f, path: Path, name: str) -> Tuple[Tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the npy stream `f`, left at the first data byte."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version[0]}.{version[1]} is not supported")
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error, SyntaxError, TypeError) as e:
        raise DataError(f"{path}: '{name}' is not a readable npy array ({_one_line(e)})") from None
    if dtype.hasobject:
        # the data of an object array is a pickle; we never load one
        raise DataError(f"{path}: '{name}' holds Python objects (dtype {dtype}); refusing to unpickle it")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _read_npy_data(f, path: Path, name: str, shape, fortran: bool, dtype: np.dtype) -> np.ndarray:
    """Read the data of an npy stream whose header was just read, in bounded pieces."""
    count = int(np.prod(shape))
    try:
        out = np.empty(count, dtype=dtype)
    except (MemoryError, ValueError):
        raise DataError(f"{path}: '{name}' of shape {shape} does not fit in memory") from None
    raw = out.view(np.uint8)
    step = 1 << 24
    try:
        for start in range(0, raw.size, step):
            want = min(step, raw.size - start)
            buf = f.read(want)
            if len(buf) != want:
                raise DataError(f"{path}: '{name}' is truncated")
            raw[start:start + want] = np.frombuffer(buf, dtype=np.uint8)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: '{name}' is unreadable ({_one_line(e)})") from None
    return out.reshape(shape, order="F" if fortran else "C")


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# --------------------------------------------------------------------------- loading


def load_phrases(path: PathLike) -> PackedPhrases:
    """Read a sparse npz, a dense bool npy or a packed cache into `PackedPhrases`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as f:
        magic = f.read(len(_NPY_MAGIC))
    if magic == _NPY_MAGIC:
        return _load_dense(path)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an npz (zip) or npy file")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            if "packed" in members:
                phrases = _load_cache(path, zf, members)
            elif "nonzero" in members:
                phrases = _load_sparse(path, zf, members)
            else:
                found = ", ".join(sorted(members)) or "nothing"
                raise DataError(f"{path}: expected keys 'shape' and 'nonzero' (sparse npz) or 'packed' "
                                f"and 'shape' (packed cache); found {found}")
    except (zipfile.BadZipFile, zlib.error, OSError) as e:
        raise DataError(f"{path}: damaged npz ({_one_line(e)})") from None
    if not phrases.packed.any():
        raise DataError(f"{path}: no notes at all")
    return phrases


def _read_member(path: Path, zf: zipfile.ZipFile, members: dict, name: str,
                 check: Callable[[tuple, np.dtype], Optional[str]], mapped: bool = False) -> np.ndarray:
    """Array `name` of an npz, after `check(shape, dtype)` (a problem or None) passed on its header;
    `mapped`: a read-only memory map where the member is stored uncompressed (read when used)."""
    if name not in members:
        raise DataError(f"{path}: missing key '{name}'")
    with zf.open(members[name]) as f:
        shape, fortran, dtype = _read_npy_header(f, path, name)
        problem = check(shape, dtype)
        if problem:
            raise DataError(f"{path}: '{name}' {problem}")
        _check_size(path, zf, members[name], f, name, int(np.prod(shape)) * dtype.itemsize)
        start = _stored_offset(path, zf.getinfo(members[name])) if mapped else None
        if start is not None:
            return np.memmap(path, dtype=dtype, mode="r", offset=start + f.tell(), shape=shape,
                             order="F" if fortran else "C")
        return _read_npy_data(f, path, name, shape, fortran, dtype)


def _stored_offset(path: Path, info: zipfile.ZipInfo) -> Optional[int]:
    """Where the bytes of an uncompressed, unencrypted member begin in the file, else None."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)  # the member's local header: its name and extra field lengths at 26
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or header[:4] != b"PK\x03\x04":
        return None
    return info.header_offset + 30 + sum(struct.unpack("<HH", header[26:30]))


def _check_size(path: Path, zf: zipfile.ZipFile, member: str, f, name: str, n_bytes: int) -> None:
    """Refuse a header promising more data than the member holds, before allocating for it."""
    if n_bytes > zf.getinfo(member).file_size - f.tell():
        raise DataError(f"{path}: '{name}' is truncated (its header promises {n_bytes} bytes)")


def _zeros(path: Path, shape: Tuple[int, ...]) -> np.ndarray:
    try:
        return np.zeros(shape, dtype=np.uint8)
    except (MemoryError, ValueError):
        raise DataError(f"{path}: {shape[0]} phrases need {np.prod(shape, dtype=float) / 2 ** 30:.1f} GiB "
                        "packed; not enough memory") from None


def _read_shape(path: Path, zf: zipfile.ZipFile, members: dict, ndim: int) -> Tuple[int, ...]:
    def check(shape, dtype):
        if dtype.kind not in "iu" or len(shape) != 1 or shape[0] != ndim:
            return f"must be {ndim} integers, got dtype {dtype} shape {shape}"
    shape = tuple(int(d) for d in _read_member(path, zf, members, "shape", check))
    if min(shape) < 0:
        raise DataError(f"{path}: 'shape' {shape} has a negative size")
    if min(shape) == 0:
        raise DataError(f"{path}: empty dataset (shape {shape})")
    return shape


def _read_songs(path: Path, zf: zipfile.ZipFile, members: dict, n: int):
    """(song_ids int32 or None, song_names list or None), validated against `n` phrases."""
    ids = names = None
    if "song_ids" in members:
        def check_ids(shape, dtype):
            if dtype.kind not in "iu" or len(shape) != 1:
                return f"must be a 1-D integer array, got dtype {dtype} shape {shape}"
            if shape[0] != n:
                return f"has {shape[0]} entries for {n} phrases"
        ids = _read_member(path, zf, members, "song_ids", check_ids)
        if ids.size and ids.min() < 0:
            raise DataError(f"{path}: 'song_ids' has negative ids")
        if ids.size and ids.max() > np.iinfo(np.int32).max:
            raise DataError(f"{path}: 'song_ids' do not fit int32")
        ids = ids.astype(np.int32)
    if "song_names" in members:
        def check_names(shape, dtype):
            if dtype.kind != "U" or len(shape) != 1:
                return f"must be a 1-D unicode array, got dtype {dtype} shape {shape}"
        names = [str(s) for s in _read_member(path, zf, members, "song_names", check_names)]
        if ids is None:
            raise DataError(f"{path}: has 'song_names' but no 'song_ids'")
        if ids.size and ids.max() >= len(names):
            raise DataError(f"{path}: 'song_ids' go up to {ids.max()} but there are {len(names)} song_names")
    return ids, names


def _load_cache(path: Path, zf: zipfile.ZipFile, members: dict) -> PackedPhrases:
    shape = _read_shape(path, zf, members, 4)
    n_bytes = _n_bytes(shape)

    def check(s, dtype):
        if dtype != np.uint8 or len(s) != 2:
            return f"must be uint8 (n, n_bytes), got dtype {dtype} shape {s}"
        if s[1] != n_bytes:
            return f"has {s[1]} bytes per phrase; phrase shape {shape} needs {n_bytes}"
        if s[0] == 0:
            return "holds 0 phrases"
    packed = np.ascontiguousarray(_read_member(path, zf, members, "packed", check, mapped=True))
    pad = n_bytes * 8 - int(np.prod(shape))
    if pad and np.any(packed[:, -1] & np.uint8((1 << pad) - 1)):
        raise DataError(f"{path}: 'packed' has bits set in the padding of the last byte")
    ids, names = _read_songs(path, zf, members, len(packed))
    return PackedPhrases(packed, shape, ids, names)


def _load_sparse(path: Path, zf: zipfile.ZipFile, members: dict) -> PackedPhrases:
    shape = _read_shape(path, zf, members, 5)
    n, phrase = shape[0], shape[1:]
    n_bytes = _n_bytes(phrase)
    packed = _zeros(path, (n, n_bytes))
    name = members["nonzero"]
    with zf.open(name) as f:
        rows_shape, fortran, dtype = _read_npy_header(f, path, "nonzero")
        if dtype.kind not in "iu":
            raise DataError(f"{path}: 'nonzero' must hold integers, got dtype {dtype}")
        if len(rows_shape) != 2 or rows_shape[0] != len(shape):
            raise DataError(f"{path}: 'nonzero' has shape {rows_shape}; expected ({len(shape)}, n_notes) "
                            f"for data of shape {shape}")
        nnz = rows_shape[1]
        if nnz == 0:
            raise DataError(f"{path}: no notes at all")
        _check_size(path, zf, name, f, "nonzero", len(shape) * nnz * dtype.itemsize)
        offset = f.tell()
    if fortran:
        # column-major (5, nnz): the indices of each note are adjacent, one stream suffices
        with zf.open(name) as f:
            f.seek(offset)
            for start in range(0, nnz, CHUNK):
                count = min(CHUNK, nnz - start)
                block = _read_chunk(f, path, dtype, count * len(shape)).reshape(count, len(shape))
                _set_bits(packed, block.T, shape, path)
    else:
        # row-major: row r starts r * nnz elements in; one independent (decompressing)
        # stream per row, read in lock-step, so no row is ever held whole (each is
        # nnz * 8 bytes: 330 MB for the published set)
        streams = [zf.open(name) for _ in shape]
        try:
            for r, s in enumerate(streams):
                _skip(s, path, offset + r * nnz * dtype.itemsize)
            for start in range(0, nnz, CHUNK):
                count = min(CHUNK, nnz - start)
                rows = [_read_chunk(s, path, dtype, count) for s in streams]
                _set_bits(packed, rows, shape, path)
        finally:
            for s in streams:
                s.close()
    ids, names = _read_songs(path, zf, members, n)
    return PackedPhrases(packed, phrase, ids, names)


def _skip(f, path: Path, n: int) -> None:
    """Advance a zip member stream by `n` bytes.

    Not `f.seek`: it reads 16 MB at a time, and zipfile then keeps up to that
    much *compressed* input buffered per stream until it is consumed, which for
    5 streams cost ~80 MB of peak memory on the published-size benchmark.
    """
    while n > 0:
        step = min(n, 1 << 20)
        try:
            got = len(f.read(step))
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise DataError(f"{path}: 'nonzero' is unreadable ({_one_line(e)})") from None
        if got != step:
            raise DataError(f"{path}: 'nonzero' is truncated")
        n -= step


def _read_chunk(f, path: Path, dtype: np.dtype, count: int) -> np.ndarray:
    want = count * dtype.itemsize
    try:
        buf = f.read(want)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: 'nonzero' is unreadable ({_one_line(e)})") from None
    if len(buf) != want:
        raise DataError(f"{path}: 'nonzero' is truncated")
    return np.frombuffer(buf, dtype=dtype).astype(np.int64, copy=False)


def _set_bits(packed: np.ndarray, rows: Sequence[np.ndarray], shape: Tuple[int, ...], path: Path) -> None:
    """Set the bits of notes `rows` (one index array per dimension of `shape`) in `packed`."""
    for r, (row, dim) in enumerate(zip(rows, shape)):
        if row.min() < 0 or row.max() >= dim:
            bad = row.min() if row.min() < 0 else row.max()
            raise DataError(f"{path}: 'nonzero' index {bad} in dimension {r} is out of bounds "
                            f"for shape {shape}")
    within = rows[1]
    for row, dim in zip(rows[2:], shape[2:]):
        within = within * dim + row
    byte = rows[0] * packed.shape[1] + (within >> 3)
    bits = np.left_shift(1, 7 - (within & 7)).astype(np.uint8)
    # nonzero() lists notes in C order, so bytes come sorted and each byte's notes
    # are one run: OR each run once. Sort anything else so the same holds.
    if byte.size > 1 and np.any(byte[1:] < byte[:-1]):
        order = np.argsort(byte, kind="stable")
        byte, bits = byte[order], bits[order]
    starts = np.flatnonzero(np.diff(byte)) + 1
    starts = np.concatenate(([0], starts))
    flat = packed.reshape(-1)
    # |= on unique bytes is a correct read-modify-write; a run may continue from the last chunk
    flat[byte[starts]] |= np.bitwise_or.reduceat(bits, starts)


def _load_dense(path: Path) -> PackedPhrases:
    with open(path, "rb") as f:
        shape, fortran, dtype = _read_npy_header(f, path, "array")
    if len(shape) != 5:
        raise DataError(f"{path}: expected a (n, n_bars, n_steps, n_pitches, n_tracks) array, got shape {shape}")
    if dtype != np.bool_ and dtype.kind not in "iu":
        raise DataError(f"{path}: expected a bool pianoroll array, got dtype {dtype}")
    if min(shape) == 0:
        raise DataError(f"{path}: empty dataset (shape {shape})")
    try:
        # memory-mapped so an 8 GB dense file is packed a slice at a time
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: unreadable npy ({_one_line(e)})") from None
    packed = _zeros(path, (shape[0], _n_bytes(shape[1:])))
    for start in range(0, shape[0], DENSE_CHUNK):
        part = np.asarray(x[start:start + DENSE_CHUNK])
        if dtype != np.bool_ and (part.min() < 0 or part.max() > 1):
            raise DataError(f"{path}: integer pianorolls must hold only 0 and 1")
        packed[start:start + len(part)] = np.packbits(part.reshape(len(part), -1).astype(bool), axis=1)
    return PackedPhrases(packed, shape[1:])


# --------------------------------------------------------------------------- writing


def _song_arrays(n: int, song_ids, song_names) -> dict:
    arrays = {}
    if song_ids is not None:
        song_ids = np.asarray(song_ids)
        if song_ids.shape != (n,):
            raise ValueError(f"song_ids must have one entry per phrase ({n}), got shape {song_ids.shape}")
        arrays["song_ids"] = song_ids.astype(np.int32)
    if song_names is not None:
        if song_ids is None:
            raise ValueError("song_names need song_ids")
        arrays["song_names"] = np.asarray([str(s) for s in song_names], dtype=np.str_).reshape(-1)
    return arrays


def write_sparse_npz(path: PathLike, x: np.ndarray, song_ids=None, song_names=None) -> Path:
    """Write bool `(n, n_bars, n_steps, n_pitches, n_tracks)` in the published sparse format.

    Keys `shape` and `nonzero` are exactly what the original code reads; the same
    input gives the same bytes. `song_ids` (one int per phrase) and `song_names`
    (`song_names[i]` names song id `i`) let training hold out whole songs.
    """
    x = np.asarray(x)
    if x.ndim != 5:
        raise ValueError(f"expected (n, n_bars, n_steps, n_pitches, n_tracks), got shape {x.shape}")
    nonzero = np.array(x.nonzero(), dtype=np.int64).reshape(x.ndim, -1)
    return atomic.save_npz(path, shape=np.array(x.shape, dtype=np.int64), nonzero=nonzero,
                       **_song_arrays(len(x), song_ids, song_names))


def write_sparse_npz_rows(path: PathLike, shape: Sequence[int], n_notes: int,
                          row_chunks: Callable[[int], Iterable[np.ndarray]],
                          song_ids=None, song_names=None) -> Path:
    """Stream a sparse npz too big to build in memory; same bytes as `write_sparse_npz`.

    `row_chunks(r)` yields, in order, pieces of row `r` of `x.nonzero()` (the
    indices along dimension `r` of all `n_notes` notes, in C order).
    """
    shape = tuple(int(d) for d in shape)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<i8")), "fortran_order": False,
              "shape": (len(shape), int(n_notes))}
    extra = _song_arrays(shape[0], song_ids, song_names)

    def member(zf, name):
        # zipfile's default ZipInfo (1980 timestamp) is what np.savez uses: deterministic
        return zf.open(name + ".npy", "w", force_zip64=True)

    with atomic.atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            with member(zf, "shape") as f:
                np.lib.format.write_array(f, np.array(shape, dtype=np.int64), allow_pickle=False)
            with member(zf, "nonzero") as f:
                np.lib.format.write_array_header_1_0(f, header)
                for r in range(len(shape)):
                    written = 0
                    for piece in row_chunks(r):
                        piece = np.ascontiguousarray(piece, dtype="<i8")
                        f.write(piece.tobytes())
                        written += piece.size
                    if written != n_notes:
                        raise ValueError(f"row {r} has {written} indices, expected {n_notes}")
            for name, array in extra.items():
                with member(zf, name) as f:
                    np.lib.format.write_array(f, array, allow_pickle=False)
    return Path(path)


def save_cache(path: PathLike, phrases: PackedPhrases) -> Path:
    """Write the packed cache: an uncompressed npz that `load_phrases` reads at disk speed."""
    arrays = dict(packed=np.ascontiguousarray(phrases.packed, dtype=np.uint8),
                  shape=np.array(phrases.shape, dtype=np.int64))
    arrays.update(_song_arrays(len(phrases), phrases.song_ids, phrases.song_names))
    return atomic.save_npz(path, compressed=False, **arrays)


def process(input_path: PathLike, output: PathLike, overwrite: bool = False) -> str:
    """`musegan process`: convert any readable dataset into the packed cache; returns a line
    saying what was written."""
    atomic.check_writable(output, overwrite)
    phrases = load_phrases(input_path)
    save_cache(output, phrases)
    songs = "" if phrases.song_ids is None else f", {len(np.unique(phrases.song_ids))} songs"
    return f"{output}: {len(phrases)} phrases of shape {phrases.shape}{songs}, density {phrases.density():.4%}"
