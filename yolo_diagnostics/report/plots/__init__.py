"""The scan report's figures: PNG files drawn with matplotlib, one `Plot` per figure.

- ``wh.png``: target sizes against the anchors and their ``anchor_t`` bands (why a target is
  unmatched);
- ``positives.png``: positive rows per level and anchor;
- ``best_ratio.png``: AutoAnchor's best ratio per target against ``1 / anchor_t``;
- ``unmatched.png``: unmatched targets by reason and by class.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot:
no global state, no window, safe in threads. Colours, sizes and the PNG metadata are fixed,
so the same scan gives the same bytes with the same matplotlib.

- `sizes`: ``wh.png`` (`wh_figure`, `unmatched_sample`);
- `counts`: ``positives.png``, ``best_ratio.png``, ``unmatched.png``;
- `style`: sizes, colours, and the helpers every figure is drawn with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from ...scan.run import ScanResult
from .counts import best_ratio_figure, positives_figure, unmatched_figure
from .sizes import unmatched_sample, wh_figure
from .style import MAX_UNMATCHED_POINTS, MISS_COLOUR, REASON_COLOURS, TITLE_SIZE, save

__all__ = [
    "MAX_UNMATCHED_POINTS",
    "MISS_COLOUR",
    "REASON_COLOURS",
    "Plot",
    "best_ratio_figure",
    "positives_figure",
    "scan_plots",
    "unmatched_figure",
    "unmatched_sample",
    "wh_figure",
]


@dataclass(frozen=True)
class Plot:
    """One figure of the report.

    Attributes:
        file: the PNG's name, relative to the folder `scan_plots` wrote it in.
        title: a heading for the figure.
        caption: one or two sentences under the figure: what it shows and how to read it.
    """

    file: str
    title: str
    caption: str


_FIGURES: tuple[tuple[str, str, Callable[[ScanResult], tuple[Figure, str]]], ...] = (
    ("wh.png", "Target sizes vs anchors", wh_figure),
    ("positives.png", "Positives per level and anchor", positives_figure),
    ("best_ratio.png", "AutoAnchor best ratio per target", best_ratio_figure),
    ("unmatched.png", "Unmatched targets by reason and class", unmatched_figure),
)


def scan_plots(result: ScanResult, folder: Path) -> list[Plot]:
    """Draw the scan's figures into ``folder`` (created if needed), in report order.

    Returns one `Plot` per PNG written: ``wh.png``, ``positives.png``, ``best_ratio.png``,
    ``unmatched.png``. A scan without targets gives the same files, each with a message.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for file, title, build in _FIGURES:
        fig, caption = build(result)
        fig.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold")
        save(fig, folder / file)
        plots.append(Plot(file, title, caption))
    return plots
