"""A small numpy rasteriser for the procedural scene datasets.

Everything is drawn at `SUPERSAMPLE` (4) samples per pixel along each axis
and averaged down, so edges are anti-aliased and a pixel's value is the
mean over a 4 x 4 grid of sample points at (i + (k + 0.5) / 4) for
k = 0..3. Coordinates are in pixels: x grows to the right (columns), y
downwards (rows); (0, 0) is the top-left corner of the canvas.

Used by `shape_scenes` (2-D shapes, painter's algorithm) and
`depth_scenes` (one ray per sample through a pinhole camera).
"""

import numpy as np

SUPERSAMPLE = 4
KINDS = ("circle", "square", "triangle")


def sample_grid(size: int, factor: int = SUPERSAMPLE
                ) -> tuple[np.ndarray, np.ndarray]:
  """(x, y) sample coordinates, each [size * factor, size * factor]."""
  points = (np.arange(size * factor) + 0.5) / factor
  y, x = np.meshgrid(points, points, indexing="ij")
  return x, y


def pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
  """(x, y) of the pixel centres, each [size, size] (one sample a pixel)."""
  return sample_grid(size, 1)


def downsample(samples: np.ndarray, factor: int = SUPERSAMPLE) -> np.ndarray:
  """[S f, S f, ...] samples -> [S, S, ...] pixel means."""
  s = samples.shape[0] // factor
  blocks = samples.reshape(s, factor, s, factor, *samples.shape[2:])
  return blocks.mean(axis=(1, 3))


def inside(kind: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float,
           r: float) -> np.ndarray:
  """Whether points (x, y) lie in a shape of half-size r centred at (cx,
  cy): the disc of radius r, the axis-aligned square of side 2r, or the
  apex-up isosceles triangle with base 2r and height 2r."""
  dx, dy = x - cx, y - cy
  if kind == "circle":
    return dx**2 + dy**2 <= r**2
  if kind == "square":
    return (np.abs(dx) <= r) & (np.abs(dy) <= r)
  if kind == "triangle":
    return (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)
  raise ValueError(f"unknown shape kind {kind!r}; known: {', '.join(KINDS)}")


def paint(size: int, background: np.ndarray, shapes) -> tuple[np.ndarray,
                                                               np.ndarray]:
  """Paints shapes in order (later ones on top), supersampled.

  Args:
    size: canvas side in pixels.
    background: [3] RGB in [0, 1].
    shapes: (kind, cx, cy, r, rgb [3]) tuples, bottom first.

  Returns:
    image [size, size, 3] float in [0, 1] (the mean of each pixel's
    samples), and ids [size, size] int64: at each pixel centre, 1 + the
    index of the topmost shape covering it, 0 for the background.
  """
  x, y = sample_grid(size)
  canvas = np.broadcast_to(np.asarray(background, float),
                           (*x.shape, 3)).copy()
  cx_pix, cy_pix = pixel_centres(size)
  ids = np.zeros((size, size), np.int64)
  for i, (kind, cx, cy, r, rgb) in enumerate(shapes):
    canvas[inside(kind, x, y, cx, cy, r)] = rgb
    ids[inside(kind, cx_pix, cy_pix, cx, cy, r)] = i + 1
  return downsample(canvas), ids
