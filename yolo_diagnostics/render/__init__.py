"""OpenCV overlays of targets and assignments, returned as PNG bytes.

Two figures, one family (the seed notebook's three figures):

- `render_targets`: GT boxes on an image at network resolution -- the raw image letterboxed to
  the network input, or the transformed training input itself.
- `render_assignment`: per pyramid level (optionally per level x anchor), the grid, the GT
  boxes, the assigned cells (centre and neighbour cells in distinct styles), the anchor box at
  each assigned cell, violations in red and, given a `Diff`, extra and missing rows.

Every panel is drawn at network resolution (``H x W`` of the problem, one image pixel per
network pixel) under a title strip; panels tile into one image with a legend strip below.
Nothing opens a window. Colours are BGR and deterministic: the same inputs give the same bytes.

Cell styles are composed with numpy masks (one boolean mask per style, blended at once), so
the cost does not grow with the number of rows; only anchors, labels and GT boxes are drawn
one OpenCV primitive per row, and those are capped (`MAX_ROWS`, `MAX_LABELS`, `MAX_TARGETS`).

The package, from the figures down (each module imports only those below it):

- `assignment`: `render_assignment`, `layout_size`; violations mapped to red rows.
- `levels`: one level's panel: the `Table` of rows, cells, anchors, diff, check-id labels.
- `targets`: `render_targets`, and the GT boxes both figures draw.
- `legend`: the legend strip: entries wrapped to the width, one swatch per style.
- `panels`: `tile_panels`, `zoom`, the title strip, the cell fills and their patterns, PNG.
- `inputs`: the arguments both figures accept, checked and converted.
- `style`: colours, `PALETTE` and `class_colour`, font, sizes, text labels.

Names without a leading underscore in these modules are shared inside the package; the
package's own API is what this module exports. A cap is read where it is defined
(``levels.MAX_ROWS``, ``targets.MAX_TARGETS``): change it there.
"""

from .assignment import layout_size, render_assignment
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
    VIOLATION,
    VIOLATION_ALPHA,
    Colour,
    class_colour,
)
from .targets import MAX_TARGETS, render_targets

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
    "VIOLATION",
    "VIOLATION_ALPHA",
    "Colour",
    "class_colour",
    "layout_size",
    "render_assignment",
    "render_targets",
    "tile_panels",
    "zoom",
]
