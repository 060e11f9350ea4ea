"""OpenCV overlays of targets and assignments: the seed notebook's three figures.

- `original_figure`: GT boxes on the original image, before any resizing;
- `render_targets`: GT boxes on an image at network resolution -- the raw image letterboxed to
  the network input, or the transformed training input itself;
- `render_assignment`: per pyramid level (optionally per level x anchor), the grid, the GT
  boxes, the assigned cells (centre and neighbour cells in distinct styles), the anchor box at
  each assigned cell, violations in red and, given a `Diff`, extra and missing rows.
- `render_tal` / `tal_figure` (the task-aligned family, module ``tal``): per level, the anchor
  points, the GT boxes and their floored boxes, the positives in their GT's colour by score,
  lost conflicts, and offending anchors in red; `render_tal_closeup` enlarges them.
  `tal_figure` returns a `TalFigure`: the pixels, and each panel's title, counts and layout.

Targets without a positive (``unmatched``) are dashed yellow and black on every figure. The
``render_*`` functions return PNG bytes; ``*_figure`` return the ``uint8[h, w, 3]`` BGR image
(for reports that encode it themselves).

Every panel is drawn at network resolution (``H x W`` of the problem, one image pixel per
network pixel) under a title strip; panels tile into one image with a legend strip below.
Nothing opens a window. Colours are BGR and deterministic: the same inputs give the same bytes.

Cell styles are composed with numpy masks (one boolean mask per style, blended at once), so
the cost does not grow with the number of rows; only anchors, labels and GT boxes are drawn
one OpenCV primitive per row, and those are capped (`MAX_ROWS`, `MAX_LABELS`, `MAX_TARGETS`).

The package, from the figures down (each module imports only those below it):

- `assignment`: `render_assignment`, `layout_size`; violations mapped to red rows.
- `tal`: the TAL figure, from `tal_scene` (tensors read), `tal_panel` (one level),
  `tal_draw` (primitives) and `tal_legend`.
- `levels`: one level's panel: the `Table` of rows, cells, anchors, diff, check-id labels.
- `targets`: `render_targets`, `original_figure`, and the GT boxes every figure draws.
- `legend`: the legend strip: entries wrapped to the width, one swatch per style.
- `panels`: `tile_panels`, `zoom`, the title strip, the cell fills and their patterns, PNG.
- `inputs`: the arguments both figures accept, checked and converted.
- `style`: colours, `PALETTE` and `class_colour`, font, sizes, text labels.

Names without a leading underscore in these modules are shared inside the package; the
package's own API is what this module exports. A cap is read where it is defined
(``levels.MAX_ROWS``, ``targets.MAX_TARGETS``): change it there.
"""

from .assignment import assignment_figure, layout_size, render_assignment
from .levels import MAX_LABELS, MAX_ROWS
from .panels import tile_panels, zoom
from .style import (
    ANCHOR,
    ANCHOR_ALPHA,
    BACKGROUND,
    CANVAS,
    CENTRE,
    CENTRE_ALPHA,
    EXTRA,
    FONT,
    GRID,
    GRID_ALPHA,
    HATCH_ALPHA,
    LEGEND_ROW_H,
    MIN_PANEL_SIDE,
    MISSING,
    NEIGHBOUR,
    NEIGHBOUR_ALPHA,
    PAD,
    PALETTE,
    TEXT,
    TITLE_H,
    UNMATCHED,
    VIOLATION,
    VIOLATION_ALPHA,
    Colour,
    class_colour,
)
from .tal import TalFigure, TalPanel, render_tal, render_tal_closeup, tal_closeup, tal_figure
from .targets import MAX_TARGETS, original_figure, render_targets, targets_figure

__all__ = [
    "ANCHOR",
    "ANCHOR_ALPHA",
    "BACKGROUND",
    "CANVAS",
    "CENTRE",
    "CENTRE_ALPHA",
    "EXTRA",
    "FONT",
    "GRID",
    "GRID_ALPHA",
    "HATCH_ALPHA",
    "LEGEND_ROW_H",
    "MAX_LABELS",
    "MAX_ROWS",
    "MAX_TARGETS",
    "MIN_PANEL_SIDE",
    "MISSING",
    "NEIGHBOUR",
    "NEIGHBOUR_ALPHA",
    "PAD",
    "PALETTE",
    "TEXT",
    "TITLE_H",
    "UNMATCHED",
    "VIOLATION",
    "VIOLATION_ALPHA",
    "Colour",
    "TalFigure",
    "TalPanel",
    "assignment_figure",
    "class_colour",
    "layout_size",
    "original_figure",
    "render_assignment",
    "render_targets",
    "render_tal",
    "render_tal_closeup",
    "tal_closeup",
    "tal_figure",
    "targets_figure",
    "tile_panels",
    "zoom",
]
