"""The shipped models' accompaniment of the committed examples, byte for byte.

AS_DRAWN: `musegan accompany examples/PART_example.mid --exp exp/accompaniment/PART --out
OUT.mid --seed 0 --style-candidates 1 --phrase-candidates 1 --rests 0`, the band as drawn
(the default before `musegan.arrange`), hashed before the package was reorganised into
subpackages: any change to reading, the networks, the weights or writing that alters what
a user gets shows here. The generator's outputs for these inputs stay at least 6e-4 from
the binarization threshold, so floating-point differences between CPUs cannot flip a note.

DEFAULT: the same command with the default choice of the band (`musegan.arrange`). Every
candidate the choice scores counts here too; their outputs come within 7e-6 (guitar) to
2e-4 (drums, strings) of the threshold, so on another CPU a candidate's note could flip;
the band chosen changes only if that changes which candidate scores best.
"""
import hashlib
from pathlib import Path

import pytest

from musegan.accompany import accompany
from musegan.arrange import AS_DRAWN

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = {
    "piano": "c9590d0a0c8bc048a849408796e7a763aac8155c1b72c82e080c9a83887f9c7e",
    "bass": "fd043afa87a47b534f14e3b815255bf9f79f63a91459f0f7ffde41141795857e",
    "guitar": "ed0eaa901a454da1c31594fe9143fde464a12b127883ddd4e2480624a81a9878",
    "strings": "524bf33a19ebf5bbd97e0bff5819fa432c7a21a8f9dfc27f9659bb1907fedee8",
    "drums": "bb3d68e48a6c3d2da51dd0d5fe5469c6886483088104b8aed4b151798c5ff01f",
}
DEFAULT = {
    "piano": "1a4a92c183bc960f4173c852090bedbc7d4562822a33952b44779d4822cb4a69",
    "bass": "b637e91a84893f1fe70c50ff21cee7ae1b1b9bab122f6e3d1940cd7226348fd4",
    "guitar": "6182de6145547cbe70bfa33f0f012130902a55d77f394bc794136750d0c36faa",
    "strings": "593e012f2d26031b92b96687986d9470e453954f4dd7e20f7e469d71f997b597",
    "drums": "cc1359764ad7a0c8aa59eb6cd6e581f889eead27eac6fe4293b5e3aef18c4a46",
}


def _hash(part: str, out: Path, **options) -> str:
    accompany(ROOT / "examples" / f"{part}_example.mid", ROOT / "exp" / "accompaniment" / part, out, seed=0,
              log=lambda line: None, **options)
    return hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.mark.parametrize("part", sorted(GOLDEN))
def test_examples_are_accompanied_byte_for_byte_as_before(part, tmp_path):
    assert _hash(part, tmp_path / f"{part}_band.mid", arranging=AS_DRAWN) == GOLDEN[part]


@pytest.mark.parametrize("part", sorted(DEFAULT))
def test_examples_are_accompanied_byte_for_byte_by_default(part, tmp_path):
    assert _hash(part, tmp_path / f"{part}_band.mid") == DEFAULT[part]
