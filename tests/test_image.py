"""Pictures of pianorolls: labeled lanes in the tracks' colours, the given part marked, bar
numbers, songs wrapped into rows, notes drawn where they are and never lost."""
import numpy as np
import pytest

from musegan.music import images

N_BARS, N_STEPS, N_PITCHES, N_TRACKS = 4, 48, 84, 5
NAMES = ["Drums", "Piano", "Guitar", "Bass", "Strings"]
WHITE = 255


def phrase():
    x = np.zeros((N_BARS, N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    x[1, 10:20, 40, 2] = True                # guitar, bar 2, steps 10..19
    x[3, 0, 10, 0] = True                    # drums, one step, first step of the last bar
    x[:, :, 50, 1] = True                    # piano holds one pitch throughout
    return x


def color_pixels(img, track, title=False):
    """Pixels of exactly the track's colour (notes are drawn opaque in it), below the header
    (whose legend has a swatch of each colour); rows counted from the header's end."""
    rgb = 255 * images.TRACK_COLORS[track]
    body = img[images.LEGEND_PX + (images.TITLE_PX if title else 0):].astype(float)
    return np.all(np.abs(body - rgb) <= 2, axis=-1)


def columns_of(mask):
    return np.flatnonzero(mask.any(axis=0))


def test_song_rows_of_eight_bars_with_every_track_in_its_colour():
    roll = np.zeros((20 * N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    for t in range(N_TRACKS):
        roll[:, 30 + 5 * t, t] = True
    img = images.song_image(roll, N_STEPS, NAMES, given=1, title="song.mid")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[1] == images.LABEL_PX + images.SONG_ROW_PX + images.MARGIN
    for t in range(N_TRACKS):
        mask = color_pixels(img, t, title=True)
        assert mask.sum() > 1000, NAMES[t]
        rows = np.flatnonzero(mask.any(axis=1))
        # 20 bars in rows of 8: three separate bands of rows hold each track's notes
        assert (np.diff(rows) > 1).sum() == 2, NAMES[t]
    # lanes stack in track order, drums on top
    tops = [np.flatnonzero(color_pixels(img, t, True).any(axis=1))[0] for t in range(N_TRACKS)]
    assert tops == sorted(tops)
    # the last row holds 4 bars: half as wide as a full one
    piano = color_pixels(img, 1, True)
    last = np.flatnonzero(piano[np.flatnonzero(piano.any(axis=1))[-1]])
    assert abs(last[-1] + 1 - last[0] - images.SONG_ROW_PX / 2) <= 2


def test_the_given_lane_is_tinted_and_named_so_and_others_are_not():
    x = np.zeros((8 * N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    x[:, 40, :] = True
    tint = 255 * np.array(images.GIVEN_TINT)
    tinted = np.all(np.abs(images.song_image(x, N_STEPS, NAMES, given=3) - tint) <= 2, axis=-1).sum()
    untinted = np.all(np.abs(images.song_image(x, N_STEPS, NAMES) - tint) <= 2, axis=-1).sum()
    assert tinted > 10_000 and untinted < tinted / 5  # antialiased edges of lines come close
    lanes = images._lanes(x[None], NAMES, 3, None)
    assert lanes.labels[3] == "Bass (given)" and lanes.labels[1] == "Piano"


def test_one_step_notes_survive_a_long_song():
    n_bars = 400
    roll = np.zeros((n_bars * N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    roll[-1, 60, 1] = True                               # one step at the very end
    roll[0, 20, 3] = True                                # and one at the start
    img = images.song_image(roll, N_STEPS, NAMES)
    assert img.shape[0] < 24 * 600                       # at most MAX_ROWS rows
    assert color_pixels(img, 1).any() and color_pixels(img, 3).any()
    # 400 bars in at most 24 rows: 20 bars a row (the next multiple of 4)
    assert max(images.BARS_PER_ROW, 4 * -(-n_bars // images.MAX_ROWS // 4)) == 20


def test_notes_sit_at_their_time_and_pitch():
    roll = np.zeros((8 * N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    roll[0:12, 40, 1] = True                             # bar 1, first beat
    roll[4 * N_STEPS + 24:4 * N_STEPS + 36, 52, 1] = True   # bar 5, third beat, higher
    img = images.song_image(roll, N_STEPS, NAMES, tracks=[1])
    mask = color_pixels(img, 1)
    cols = columns_of(mask)
    px = images.SONG_ROW_PX / (8 * N_STEPS)             # 3 pixels a step
    left = images.LABEL_PX
    first, second = cols[cols < left + 100], cols[cols > left + 100]
    assert abs(first[0] - left) <= 1 and abs(len(first) - 12 * px) <= 2
    assert abs(second[0] - (left + (4 * N_STEPS + 24) * px)) <= 2
    rows_first = np.flatnonzero(mask[:, first].any(axis=1))
    rows_second = np.flatnonzero(mask[:, second].any(axis=1))
    assert rows_second.max() < rows_first.min()         # the higher pitch is drawn above


def test_only_the_asked_tracks_are_drawn():
    x = np.zeros((4 * N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    x[:, 40, :] = True
    img = images.song_image(x, N_STEPS, NAMES, given=1, tracks=[0, 1, 3])
    assert [color_pixels(img, t).any() for t in range(N_TRACKS)] == [True, True, False, True, False]


def test_grid_numbers_cells_and_leaves_missing_ones_empty():
    xs = np.stack([phrase()] * 3)
    full = images.grid_image(xs, rows=1, columns=3, names=NAMES, given=1)
    gap = images.grid_image(xs, rows=2, columns=2, names=NAMES, given=1)
    assert gap.shape[1] < full.shape[1] and gap.shape[0] > full.shape[0]
    # the fourth cell (bottom right) holds no note
    piano = color_pixels(gap, 1)
    bottom = piano[piano.shape[0] // 2 + 20:]
    right = images.LABEL_PX + N_BARS * N_STEPS * images.CELL_STEP_PX + 8
    assert bottom[:, :int(right)].any() and not bottom[:, int(right):].any()
    # every cell shows its guitar note at the same place in the cell
    guitar = columns_of(color_pixels(full, 2))
    assert len(guitar) >= 3 * 10


def test_grid_overlay_draws_all_tracks_in_one_lane():
    xs = np.stack([phrase()] * 2)
    img = images.grid_image(xs, 1, 2, NAMES, overlay=True)
    for t in (0, 1, 2):
        assert color_pixels(img, t).any()
    lanes = images.grid_image(xs, 1, 2, NAMES)
    assert img.shape[0] < lanes.shape[0]


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        images.grid_image(np.zeros((4, 48, 84, 5), dtype=bool), 1, 1, NAMES)
    with pytest.raises(ValueError, match="track names"):
        images.grid_image(np.stack([phrase()]), 1, 1, NAMES[:3])
    with pytest.raises(ValueError, match="rows and columns"):
        images.grid_image(np.stack([phrase()]), 0, 1, NAMES)
    with pytest.raises(ValueError, match="tracks"):
        images.song_image(np.zeros((48, 84, 5), bool), 48, NAMES, tracks=[7])


def test_matplotlib_is_imported_only_to_draw():
    import subprocess
    import sys

    code = "import sys, musegan.music.images, musegan.music.results; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
