"""The dataset scan's HTML report: ``index.html``, a page per image worth a look, figures.

The report is static and opens from disk: Jinja2 templates with autoescaping (no HTML built
from strings), one stylesheet and one script copied beside it, nothing fetched at view time.
The table of images travels as JSON inside the index page (escaped by ``tojson``) and is
drawn by the script, so a hundred thousand images stay fast. Every file name is made from
numbers (``images/<k>.html``), never from a string of the dataset.

Each image page shows the seed notebook's three views (`views.image_views`) -- GT on the
original image, GT on the letterboxed network input, the assignment per level, and a close-up
of the targets without a positive -- with a table of its targets.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import jinja2
import numpy as np

from ..files import Staging, write_atomic
from ..scan.run import ScanResult
from ..scan.summary import image_table, worst_images
from .plots import scan_plots
from .views import image_views

JPEG_QUALITY = 82  # the views of a 200-page report of dense images stay near 100 MB
SKIPPED_LISTED = 1000  # skipped annotations (and images) named one by one on the index page
MEANINGS = {
    "too-small": "against every anchor it fails only by a side below anchor / anchor_t",
    "too-large": "against every anchor it fails only by a side above anchor × anchor_t",
    "aspect": "anything else: too thin for some anchors, too long for others",
}
IMAGE_COLUMNS = ("index", "file", "id", "targets", "unmatched", "duplicates", "collisions", "tiny")

_STATIC = Path(__file__).parent / "static"
_PAGE_FILE = re.compile(r"\d+(\.html|-(original|input|assignment|closeup)\.jpg)")


def write_report(
    result: ScanResult,
    summary: dict[str, Any],
    out: Path,
    *,
    pages: int = 200,
    workers: int = 2,
    command: str = "",
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write the report of ``result`` and ``summary.json`` into ``out``; returns the path of
    ``index.html``.

    ``pages`` images get a page (the worst first, see `worst_images`), drawn by ``workers``
    threads; ``progress(1)`` is called per page written. ``summary["seconds"]["report"]``
    is set. Everything is written into a hidden staging folder first (`files.Staging`) and
    moved into ``out`` only when complete: an interrupted run (an exception, SIGINT, SIGTERM
    turned into one by the CLI) leaves ``out`` as it was. An earlier scan's pages that this
    one does not replace are removed after the move; other files in ``out`` are left alone.
    """
    start = time.perf_counter()
    out = Path(out)
    with Staging(out) as stage:
        names = _write_all(result, summary, stage.root, pages, workers, command, progress)
        summary.setdefault("seconds", {})["report"] = round(time.perf_counter() - start, 3)
        write_atomic(stage.root / "summary.json", json.dumps(summary, indent=1))
        stage.publish(last=("index.html", "summary.json"))
    olds = (out / "images").iterdir() if (out / "images").is_dir() else ()
    for old in olds:  # an earlier scan's pages, named as ours are
        if _PAGE_FILE.fullmatch(old.name) and old.name not in names:
            old.unlink()
    return out / "index.html"


def _write_all(
    result: ScanResult,
    summary: dict[str, Any],
    out: Path,
    pages: int,
    workers: int,
    command: str,
    progress: Callable[[int], None] | None,
) -> set[str]:
    """The whole report into the (empty) folder ``out``; returns the image pages' files."""
    (out / "assets").mkdir(parents=True)
    for asset in ("report.css", "report.js"):
        shutil.copyfile(_STATIC / asset, out / "assets" / asset)
    plots = scan_plots(result, out / "plots")
    table = image_table(result)
    worst = worst_images(table, pages).tolist()
    (out / "images").mkdir()
    env = _environment()
    page = env.get_template("scan/image.html.j2")

    def write_page(rank: int) -> None:
        _write_page(result, table, worst, rank, out / "images", page, summary)
        if progress is not None:
            progress(1)

    pool = ThreadPoolExecutor(max(workers, 1))
    try:
        for done in [pool.submit(write_page, rank) for rank in range(len(worst))]:
            done.result()
    finally:  # on an interrupt, pages not started are not drawn
        pool.shutdown(wait=True, cancel_futures=True)

    has_page = np.zeros(result.dataset.num_images, bool)
    has_page[worst] = True
    index = out / "index.html"
    index.write_text(
        env.get_template("scan/index.html.j2").render(
            root="",
            s=summary,
            plots=plots,
            meanings=MEANINGS,
            pages=len(worst),
            images=_image_rows(result, table, has_page),
            skipped=result.skipped,
            skipped_total=len(result.skipped),
            skipped_limit=SKIPPED_LISTED,
            skipped_images=result.dataset.skipped_images,
            restored=result.dataset.restored,
            files_checked=result.dataset.image_root is not None,
            command=command,
        )
    )
    return {p.name for p in (out / "images").iterdir()}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("yolo_diagnostics.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["percent"] = lambda x: "–" if x is None else f"{100 * x:.2f} %"
    return env


def _image_rows(
    result: ScanResult, table: dict[str, np.ndarray], has_page: np.ndarray
) -> dict[str, Any]:
    """The table of images as JSON-able columns and rows (the page's script draws it)."""
    ds = result.dataset
    columns = [np.arange(ds.num_images).tolist(), ds.image_files, ds.image_ids]
    columns += [table[k].tolist() for k in IMAGE_COLUMNS[3:]]
    return {
        "columns": [*IMAGE_COLUMNS, "page"],
        "rows": [list(row) for row in zip(*columns, has_page.tolist())],
    }


def _write_page(
    result: ScanResult,
    table: dict[str, np.ndarray],
    worst: list[int],
    rank: int,
    folder: Path,
    template: jinja2.Template,
    summary: dict[str, Any],
) -> None:
    """One image's page and its views (`image_views`), as JPEG files beside it."""
    k = worst[rank]
    views = image_views(result, k)
    for name, img in views.figures.items():
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
            raise RuntimeError(f"cannot encode the {name} view of image {k}")
        (folder / f"{k}-{name}.jpg").write_bytes(jpg.tobytes())
    ds, g = result.dataset, result.geometry
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
        **{c: int(table[c][k]) for c in IMAGE_COLUMNS[3:]},
    }
    (folder / f"{k}.html").write_text(
        template.render(
            root="../",
            source=summary["source"],
            image=image,
            targets=views.targets,
            levels=result.problem.nl,
            semantics=result.semantics,
            input_size=result.problem.img_size,
            rank=rank,
            pages=len(worst),
            previous=worst[rank - 1] if rank > 0 else None,
            next=worst[rank + 1] if rank + 1 < len(worst) else None,
        )
    )
