"""The TAL scan's HTML report: ``index.html``, a page per image worth a look, figures.

The same frame as the anchor scan's report (`report.dataset`): static, opens from disk,
Jinja2 templates with autoescaping, the same stylesheet and script, the table of images as
JSON drawn by the script, file names made of numbers only, written into a staging folder and
moved into place when complete. The index shows the candidate figures (`scan.tal_summary`)
and `plots.tal`'s figures; each image page shows `tal_views.tal_image_views`' figures and a
table of its targets with their candidates per level.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from ..scan.tal import TalScanResult
from ..scan.tal_summary import IMAGE_KEYS, tal_image_table, tal_worst_images
from .dataset import (
    SKIPPED_LISTED,
    copy_assets,
    environment,
    image_rows,
    in_threads,
    publish_report,
    write_jpeg,
)
from .plots.tal import tal_scan_plots
from .tal_views import tal_image_views


def write_tal_report(
    result: TalScanResult,
    summary: dict[str, Any],
    out: Path,
    *,
    pages: int = 200,
    workers: int = 2,
    command: str = "",
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write the report of ``result`` and ``summary.json`` into ``out``; returns the path of
    ``index.html``. As `report.dataset.write_report`: ``pages`` images get a page (the worst
    first, `tal_worst_images`), drawn by ``workers`` threads, ``progress(1)`` per page; an
    interrupted run leaves ``out`` as it was."""
    return publish_report(
        out,
        summary,
        lambda root: _write_all(result, summary, root, pages, workers, command, progress),
    )


def _write_all(
    result: TalScanResult,
    summary: dict[str, Any],
    out: Path,
    pages: int,
    workers: int,
    command: str,
    progress: Callable[[int], None] | None,
) -> tuple[set[str], set[str]]:
    """The whole report into the (empty) folder ``out``; returns the image pages' files and
    the figures'."""
    copy_assets(out)
    plots = tal_scan_plots(result, out / "plots")
    table = tal_image_table(result)
    worst = tal_worst_images(table, pages).tolist()
    (out / "images").mkdir()
    env = environment()
    page = env.get_template("scan/tal_image.html.j2")

    def write_page(rank: int) -> None:
        _write_page(result, table, worst, rank, out / "images", page, summary)
        if progress is not None:
            progress(1)

    in_threads(write_page, len(worst), workers)
    has_page = np.zeros(result.dataset.num_images, bool)
    has_page[worst] = True
    (out / "index.html").write_text(
        env.get_template("scan/tal_index.html.j2").render(
            root="",
            s=summary,
            plots=plots,
            pages=len(worst),
            images=image_rows(result.dataset, table, IMAGE_KEYS, has_page),
            skipped=result.skipped,
            skipped_total=len(result.skipped),
            skipped_limit=SKIPPED_LISTED,
            skipped_images=result.dataset.skipped_images,
            restored=result.dataset.restored,
            files_checked=result.dataset.image_root is not None,
            command=command,
        )
    )
    return {p.name for p in (out / "images").iterdir()}, {p.file for p in plots}


def _write_page(
    result: TalScanResult,
    table: dict[str, np.ndarray],
    worst: list[int],
    rank: int,
    folder: Path,
    template: jinja2.Template,
    summary: dict[str, Any],
) -> None:
    """One image's page and its figures, as JPEG files beside it."""
    k = worst[rank]
    views = tal_image_views(result, k)
    for name, img in views.figures.items():
        write_jpeg(folder / f"{k}-{name}.jpg", img)
    ds, g, p = result.dataset, result.geometry, result.problem
    image = {
        "index": k,
        "file": ds.image_files[k],
        "id": ds.image_ids[k],
        "size": ds.sizes[k].tolist(),
        "loaded": g.loaded[k].tolist(),
        "resized": g.resized[k].tolist(),
        "pad": g.pad[k].tolist(),
        "has_pixels": not views.missing,
        "missing": views.missing,
        "restored": ds.image_files[k] in set(ds.restored),
        "closeup": views.closeup,
        **{c: int(table[c][k]) for c in IMAGE_KEYS},
    }
    (folder / f"{k}.html").write_text(
        template.render(
            root="../",
            source=summary["source"],
            s=summary,
            image=image,
            targets=views.targets,
            strides=p.strides,
            topk=p.topk,
            input_size=p.img_size,
            rank=rank,
            pages=len(worst),
            previous=worst[rank - 1] if rank > 0 else None,
            next=worst[rank + 1] if rank + 1 < len(worst) else None,
        )
    )
