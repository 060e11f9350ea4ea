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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import jinja2
import numpy as np

from ..data.boxes import BoxDataset
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
# the pages of either scan family (the TAL scan's figures are "candidates" and "closeup")
_PAGE_FILE = re.compile(r"\d+(\.html|-(original|input|assignment|closeup|candidates)\.jpg)")


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
    return publish_report(
        out,
        summary,
        lambda root: _write_all(result, summary, root, pages, workers, command, progress),
    )


def publish_report(
    out: Path, summary: dict[str, Any], write: Callable[[Path], tuple[set[str], set[str]]]
) -> Path:
    """Stage a report (``write(root)`` fills the empty folder ``root`` and returns the names
    of its image pages' files and of its figures), add ``summary.json`` with the report's
    seconds, move it all into ``out`` and remove an earlier scan's pages and figures that
    this one did not replace (of either scan family; other files are left alone)."""
    start = time.perf_counter()
    out = Path(out)
    with Staging(out) as stage:
        names, figures = write(stage.root)
        summary.setdefault("seconds", {})["report"] = round(time.perf_counter() - start, 3)
        write_atomic(stage.root / "summary.json", json.dumps(summary, indent=1))
        stage.publish(last=("index.html", "summary.json"))
    olds = (out / "images").iterdir() if (out / "images").is_dir() else ()
    for old in olds:  # an earlier scan's pages, named as ours are
        if _PAGE_FILE.fullmatch(old.name) and old.name not in names:
            old.unlink()
    for old in set(FIGURE_FILES) - figures:  # the other family's figures
        (out / "plots" / old).unlink(missing_ok=True)
    return out / "index.html"


FIGURE_FILES = (
    "wh.png",
    "positives.png",
    "best_ratio.png",
    "unmatched.png",
    "tal_wh.png",
    "tal_candidates.png",
    "tal_classes.png",
)
"""The figures a scan report of either family may hold in ``plots/``."""


def copy_assets(out: Path) -> None:
    """The stylesheet and the script every scan page links, into ``out/assets``."""
    (out / "assets").mkdir(parents=True)
    for asset in ("report.css", "report.js"):
        shutil.copyfile(_STATIC / asset, out / "assets" / asset)


def _write_all(
    result: ScanResult,
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
    plots = scan_plots(result, out / "plots")
    table = image_table(result)
    worst = worst_images(table, pages).tolist()
    (out / "images").mkdir()
    env = environment()
    page = env.get_template("scan/image.html.j2")

    def write_page(rank: int) -> None:
        _write_page(result, table, worst, rank, out / "images", page, summary)
        if progress is not None:
            progress(1)

    in_threads(write_page, len(worst), workers)

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
            images=image_rows(result.dataset, table, IMAGE_COLUMNS[3:], has_page),
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


def in_threads(work: Callable[[int], None], n: int, workers: int) -> None:
    """``work(rank)`` for each rank below ``n`` in ``workers`` threads; the first error is
    raised, and on an interrupt the ranks not started are not run."""
    pool = ThreadPoolExecutor(max(workers, 1))
    try:
        for done in [pool.submit(work, rank) for rank in range(n)]:
            done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def environment() -> jinja2.Environment:
    """The scan reports' Jinja2 environment: autoescaping, strict undefined, and the
    ``thousands`` and ``percent`` filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("yolo_diagnostics.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["percent"] = lambda x: "–" if x is None else f"{100 * x:.2f} %"
    return env


def image_rows(
    dataset: BoxDataset, table: dict[str, np.ndarray], keys: Sequence[str], has_page: np.ndarray
) -> dict[str, Any]:
    """The table of images as JSON-able columns and rows (the page's script draws it): index,
    file, id, the ``keys`` of ``table`` (``int64[N]`` each), and whether it has a page."""
    columns = [np.arange(dataset.num_images).tolist(), dataset.image_files, dataset.image_ids]
    columns += [table[k].tolist() for k in keys]
    return {
        "columns": ["index", "file", "id", *keys, "page"],
        "rows": [list(row) for row in zip(*columns, has_page.tolist())],
    }


def write_jpeg(path: Path, img: np.ndarray) -> None:
    """``img`` (``uint8[h, w, 3]`` BGR) as a JPEG of `JPEG_QUALITY` at ``path``."""
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays
        raise RuntimeError(f"cannot encode {path.name}")
    path.write_bytes(jpg.tobytes())


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
        write_jpeg(folder / f"{k}-{name}.jpg", img)
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
