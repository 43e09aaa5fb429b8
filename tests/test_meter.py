"""musegan.music.meter and beats: a song's beats read as the model's 4-beat bars, whatever the meta says."""
import numpy as np
import pretty_midi
import pytest

from conftest import band, downbeat_band
from musegan.errors import UsageError
from musegan.music import beats, meter, timing

RES = 12


def bars_of(path, **kw):
    return meter.read_bars(pretty_midi.PrettyMIDI(str(path)), RES, **kw)


def starts(grid):
    """First beat of every bar."""
    return (grid.bar_starts // RES).tolist()


def played(grid):
    """First beat of every bar the model plays."""
    return (grid.bar_starts[grid.bar_is_44] // RES).tolist()


def same_grid(a, b):
    np.testing.assert_array_equal(a.step_times, b.step_times)
    np.testing.assert_array_equal(a.bar_starts, b.bar_starts)
    np.testing.assert_array_equal(a.bar_meters, b.bar_meters)
    np.testing.assert_array_equal(a.bar_is_44, b.bar_is_44)


@pytest.mark.parametrize("meters", [[(0, 4, 4)], [], [(0, 1, 4), (1, 4, 4)], [(0, 4, 4), (16, 3, 4), (19, 4, 4)],
                                    [(0, 4, 4), (16, 2, 4), (18, 4, 4)]])
def test_what_needs_no_regrouping_is_the_file_s_own_grid(make_midi, meters):
    """4/4, no time signature, a 1/4 pickup, a 3/4 or a single 2/4 bar: exactly `timing.song_grid`."""
    path = make_midi("a.mid", band(9, "dpb"), meters=meters)
    bars = bars_of(path)
    assert not bars.regrouped and bars.notice() is None
    same_grid(bars.grid, timing.song_grid(pretty_midi.PrettyMIDI(str(path)), RES))


@pytest.mark.parametrize("pickup", [0, 1, 2, 3])
@pytest.mark.parametrize("mark", [(1, 4), (2, 4)])
def test_a_pulse_meter_throughout_is_regrouped_with_bar_1_found_from_the_music(make_midi, pickup, mark):
    path = make_midi("a.mid", downbeat_band(12, pickup), meters=[(0, *mark)])
    bars = bars_of(path)
    grid = bars.grid
    # the written music's downbeats: beat pickup + 4k
    assert played(grid) == [pickup + 4 * k for k in range(12)]
    assert grid.bar_meters[grid.bar_is_44].tolist() == [[4, 4]] * 12
    (stretch,) = bars.stretches
    assert (stretch.phase, stretch.how, stretch.meters) == (pickup, "music", f"{mark[0]}/{mark[1]}")
    assert "--downbeat-shift" in bars.notice() and f"from their beat {pickup + 1} (found from the music)" in bars.notice()
    # every beat is the file's own quarter note
    np.testing.assert_allclose(grid.step_times[::RES][:4 * 12], np.arange(4 * 12) * 0.5)


@pytest.mark.parametrize("pickup", [1, 3])
def test_bar_1_is_found_where_displaced_notes_are(make_midi, pickup):
    """Notes re-timed off their grid by most of half a beat (RWC's are: the grid is moved onto
    them) are judged on the moved beats, not on the file's."""
    path = make_midi("a.mid", downbeat_band(16, pickup), meters=[(0, 1, 4)], offset_ticks=300)
    grid = bars_of(path, align=True).grid
    downbeats = grid.step_times[grid.bar_starts[grid.bar_is_44]]
    music = (pickup + 4 * np.arange(16)) * 0.5 + 300 / 960  # 120 bpm, 480 ticks a beat
    assert np.abs(downbeats[:, None] - music[None, :15]).min(axis=0).max() < 0.01  # every bar of the music
    np.testing.assert_allclose((downbeats - music[0] + 0.5) % 2.0, 0.5, atol=0.01)  # and only on them


def test_the_downbeat_shift_moves_regrouped_bar_lines_by_whole_beats(make_midi):
    path = make_midi("a.mid", downbeat_band(8, 1), meters=[(0, 2, 4)])
    assert played(bars_of(path).grid)[:3] == [1, 5, 9]
    assert played(bars_of(path, shift=1).grid)[:3] == [2, 6, 10]
    assert played(bars_of(path, shift=-1).grid)[:3] == [0, 4, 8]
    assert played(bars_of(path, shift=3).grid)[:3] == [0, 4, 8]


def test_cut_time_plays_as_four_quarter_note_bars(make_midi):
    path = make_midi("a.mid", band(8, "dpb"), meters=[(0, 2, 2)])
    bars = bars_of(path)
    common = timing.song_grid(pretty_midi.PrettyMIDI(str(make_midi("b.mid", band(8, "dpb")))), RES)
    np.testing.assert_allclose(bars.grid.step_times, common.step_times)
    np.testing.assert_array_equal(bars.grid.bar_starts, common.bar_starts)
    assert bars.grid.bar_is_44.all() and bars.grid.bar_meters.tolist() == [[2, 2]] * 8
    assert not bars.regrouped


def test_cut_time_beats_follow_a_tempo_change_inside_a_half_note(make_midi):
    path = make_midi("a.mid", band(4, "p"), meters=[(0, 2, 2)], tempos=[(0, 120), (3, 60)])
    grid = bars_of(path).grid
    beat_times = grid.step_times[::RES][:6]
    np.testing.assert_allclose(beat_times, [0, 0.5, 1.0, 1.5, 2.5, 3.5])


def test_2_4_after_4_4_continues_its_bars_and_before_4_4_ends_on_its_bar_line(make_midi):
    # 4 bars of 4/4, 10 bars of 2/4 (20 beats), 4 bars of 4/4
    path = make_midi("a.mid", band(18, "dpb"), meters=[(0, 4, 4), (16, 2, 4), (36, 4, 4)])
    bars = bars_of(path)
    assert played(bars.grid) == list(range(0, 72, 4))
    assert [s.how for s in bars.stretches] == ["after"]
    # 2/4 from the start for 5 bars (10 beats), then 4/4: the regrouped bars end where 4/4 begins
    path = make_midi("b.mid", band(8, "dpb"), meters=[(0, 2, 4), (10, 4, 4)])
    bars = bars_of(path)
    assert starts(bars.grid)[:4] == [0, 2, 6, 10] and played(bars.grid)[:3] == [2, 6, 10]
    assert bars.grid.bar_meters[0].tolist() == [2, 4]  # the piece left over keeps its length
    assert [s.how for s in bars.stretches] == ["before"]


def test_other_meters_play_only_when_asked_and_12_8_keeps_its_bars(make_midi):
    waltz = make_midi("waltz.mid", band(6, "dpb"), meters=[(0, 3, 4)])
    assert not bars_of(waltz).grid.bar_is_44.any()
    forced = bars_of(waltz, meter="4/4")
    assert forced.regrouped and forced.forced and "--meter 4/4" in forced.notice()
    assert forced.grid.bar_is_44.sum() == 6 and set(np.diff(played(forced.grid))) == {4}

    jig = make_midi("jig.mid", band(12, "dpb"), meters=[(0, 12, 8)])  # 12/8: 4 dotted-quarter beats a bar
    assert not bars_of(jig).grid.bar_is_44.any()
    forced = bars_of(jig, meter="4/4")
    assert not forced.regrouped and forced.grid.bar_is_44.all()
    assert forced.grid.bar_meters.tolist() == [[12, 8]] * forced.grid.n_bars
    np.testing.assert_allclose(forced.grid.step_times[forced.grid.bar_starts][:3], [0, 3, 6])  # 6 quarters a bar


def test_unknown_meter_is_a_usage_error(make_midi):
    with pytest.raises(UsageError, match="--meter 3/4: must be one of auto, 4/4"):
        bars_of(make_midi("a.mid", band(2, "p")), meter="3/4")


@pytest.mark.parametrize("pickup", [0, 1, 2, 3])
def test_downbeat_phase_finds_bar_1(make_midi, pickup):
    pm = pretty_midi.PrettyMIDI(str(make_midi("a.mid", downbeat_band(8, pickup), meters=[])))
    beat_times = np.arange(4 * 8 + pickup) * 0.5
    assert beats.downbeat_phase(beat_times, beats.notes_of(pm)) == pickup


def test_downbeat_phase_without_material_is_0():
    notes = beats.notes_of(pretty_midi.PrettyMIDI())
    assert len(notes) == 0 and beats.downbeat_phase(np.arange(16.0), notes) == 0
    assert beats.downbeat_phase(np.arange(3.0), notes) == 0
