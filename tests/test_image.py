"""Pianoroll images: sizes, and notes drawn where they are."""
import imageio.v2 as imageio
import numpy as np
import pytest

from musegan.music import images

N_BARS, N_STEPS, N_PITCHES, N_TRACKS = 4, 48, 84, 5
H = N_TRACKS * (N_PITCHES + 1) - 1          # 424
W = N_BARS * (N_STEPS + 1) - 1              # 195


def phrase():
    x = np.zeros((N_BARS, N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    x[1, 10:20, 40, 2] = True                # guitar, bar 1, steps 10..19, row 40
    x[3, 0, 0, 0] = True                     # drums, lowest row, first step of the last bar
    return x


def pixel(track, row, bar, step):
    """Where the grayscale image draws (track, pitch row, bar, step): pitch upwards."""
    return track * (N_PITCHES + 1) + (N_PITCHES - 1 - row), bar * (N_STEPS + 1) + step


def test_phrase_image_size_and_notes():
    img = images.phrase_image(phrase())
    assert img.shape == (H, W) and img.dtype == np.uint8
    for step in range(10, 20):
        assert img[pixel(2, 40, 1, step)] == 0
    assert img[pixel(0, 0, 3, 0)] == 0
    assert img[pixel(2, 41, 1, 15)] == 255 and img[pixel(2, 40, 1, 20)] == 255   # empty neighbours
    assert img[pixel(1, 40, 1, 15)] == 255                                     # other track
    # separators: a gray column between bars, a gray row between tracks
    assert (img[:, N_STEPS] == images.LINE).all()
    assert (img[N_PITCHES, :N_STEPS] == images.LINE).all()
    assert (img == 0).sum() == 11


def test_colored_image_overlays_tracks_in_their_colours():
    x = phrase()
    x[1, 10, 40, 1] = True                   # piano on a guitar cell: a mix of both
    img = images.phrase_image(x, colored=True)
    assert img.shape == (N_PITCHES, W, 3)
    y, col = N_PITCHES - 1 - 40, 1 * (N_STEPS + 1)
    guitar = np.round(255 * images.TRACK_COLORS[2]).astype(np.uint8)
    assert np.array_equal(img[y, col + 12], guitar)
    assert (img[y, col + 10] < img[y, col + 12]).all() or not np.array_equal(img[y, col + 10], guitar)
    assert (img[y - 1, col + 12] == 255).all()


def test_grid_image_size_and_blank_cells():
    xs = np.stack([phrase()] * 3)
    grid = images.grid_image(xs, rows=2, columns=2)
    g = images.GRID_WIDTH
    assert grid.shape == (2 * (H + g) + g, 2 * (W + g) + g)
    assert (grid[:g] == images.GRID).all()
    last = grid[g + H + g:g + H + g + H, g + W + g:g + W + g + W]   # cell 4: no phrase
    assert (last == 255).all()
    first = grid[g:g + H, g:g + W]
    assert np.array_equal(first, images.phrase_image(xs[0]))
    colored = images.grid_image(xs, rows=1, columns=3, colored=True)
    assert colored.shape == (N_PITCHES + 2 * g, 3 * (W + g) + g, 3)


def test_song_image_keeps_short_songs_at_full_resolution():
    roll = np.zeros((5 * N_STEPS - 7, N_PITCHES, N_TRACKS), dtype=bool)   # last bar incomplete
    roll[3, 20, 3] = True
    img = images.song_image(roll, N_STEPS)
    assert img.shape == (H, 5 * (N_STEPS + 1) - 1)
    assert img[pixel(3, 20, 0, 3)] == 0


def test_song_image_of_400_bars_is_capped_and_keeps_one_step_notes():
    n_bars = 400
    roll = np.zeros((n_bars * N_STEPS, N_PITCHES, N_TRACKS), dtype=bool)
    roll[399 * N_STEPS + 47, 60, 1] = True                  # one step at the very end
    img = images.song_image(roll, N_STEPS)
    assert img.shape == (H, 3599)                            # 8 columns + 1 line per bar
    assert img.shape[1] <= images.MAX_SONG_WIDTH
    y = 1 * (N_PITCHES + 1) + N_PITCHES - 1 - 60
    assert img[y, -1] == 0 and (img == 0).sum() == 1
    colored = images.song_image(roll, N_STEPS, colored=True, max_width=1200)
    assert colored.shape == (N_PITCHES, 3 * n_bars - 1, 3)   # 2 columns a bar
    tiny = images.song_image(roll, N_STEPS, max_width=300)    # < 1 column a bar: no bar lines
    assert tiny.shape == (H, 300) and (tiny == 0).sum() == 1


def test_save_grid_writes_a_png(tmp_path):
    path = images.save_grid(tmp_path / "grid.png", np.stack([phrase()] * 4), 2, 2, colored=True)
    back = imageio.imread(path)
    assert back.shape == images.grid_image(np.stack([phrase()] * 4), 2, 2, colored=True).shape


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        images.phrase_image(np.zeros((48, 84, 5), dtype=bool))
    with pytest.raises(ValueError):
        images.phrase_image(phrase(), colored=True, colors=[[1, 0, 0]])
