"""The shipped models' accompaniment of the committed examples, byte for byte.

The hashes were taken from `musegan accompany examples/PART_example.mid --exp
exp/accompaniment/PART --out OUT.mid --seed 0` before the package was reorganised into
subpackages: any change to reading, the networks, the weights or writing that alters
what a user gets shows here. The generator's outputs for these inputs stay at least
6e-4 from the binarization threshold, so floating-point differences between CPUs
cannot flip a note.
"""
import hashlib
from pathlib import Path

import pytest

from musegan.accompany import accompany

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = {
    "piano": "c9590d0a0c8bc048a849408796e7a763aac8155c1b72c82e080c9a83887f9c7e",
    "bass": "fd043afa87a47b534f14e3b815255bf9f79f63a91459f0f7ffde41141795857e",
    "guitar": "ed0eaa901a454da1c31594fe9143fde464a12b127883ddd4e2480624a81a9878",
    "strings": "524bf33a19ebf5bbd97e0bff5819fa432c7a21a8f9dfc27f9659bb1907fedee8",
    "drums": "bb3d68e48a6c3d2da51dd0d5fe5469c6886483088104b8aed4b151798c5ff01f",
}


@pytest.mark.parametrize("part", sorted(GOLDEN))
def test_examples_are_accompanied_byte_for_byte_as_before(part, tmp_path):
    out = tmp_path / f"{part}_band.mid"
    accompany(ROOT / "examples" / f"{part}_example.mid", ROOT / "exp" / "accompaniment" / part, out, seed=0,
              log=lambda line: None)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == GOLDEN[part]
