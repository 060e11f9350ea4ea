"""What the adapters share: quiet imports of packages written for notebooks, and the error
for a package that is not installed."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DiagnosticsError
from ..problem import Problem

# How to install each adapter's package: the package itself without its training and export
# stacks, then exactly the libraries its imports need (found by importing it in a bare venv).
INSTALL: dict[str, str] = {
    "yolov5": (
        "pip install --no-deps yolov5==7.0.14 ultralytics==8.4.190 && pip install pandas "
        'matplotlib seaborn pyyaml requests psutil tqdm "setuptools<81"'
    ),
    "yolort": (
        "pip install --no-deps yolort==0.6.3 && pip install pandas matplotlib pyyaml requests "
        'tqdm "setuptools<81"'
    ),
    "ultralytics": (
        "pip install --no-deps ultralytics==8.4.190 && pip install numpy "
        "opencv-python-headless pillow pyyaml"
    ),
}

# The names under which ultralytics/yolov5 code (and its copies) looks for its fonts.
_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def missing(package: str, error: ImportError) -> ImportError:
    """The one error an adapter raises when its package, or a library it imports, is absent."""
    return ImportError(
        f"the {package} adapter needs the {package!r} package and the libraries it imports "
        f"({error}); install them with: {INSTALL[package]}"
    )


def require_g_half(problem: Problem, package: str, where: str) -> None:
    """Both packages implement only YOLOv5's 3-positive rule."""
    if problem.g != 0.5:
        raise DiagnosticsError(
            f"Problem.g = {problem.g}: the {package} package only implements g = 0.5 ({where})"
        )


def config_dir() -> Path:
    """A writable folder for the packages' settings and fonts, created if needed.

    ``$XDG_CACHE_HOME/yolo-diagnostics/ultralytics`` (``~/.cache`` by default), else a folder
    of this user's under the temporary directory.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for folder in (
        cache / "yolo-diagnostics" / "ultralytics",
        Path(tempfile.gettempdir()) / f"yolo-diagnostics-{os.getuid()}" / "ultralytics",
    ):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return Path(tempfile.mkdtemp(prefix="yolo-diagnostics-ultralytics-"))


def provide_fonts(folder: Path) -> None:
    """Copy matplotlib's DejaVuSans.ttf to the font names the packages would download.

    yolort draws its font at import time (``Annotator`` calls ``check_font()`` in its class
    body) and downloads ``https://ultralytics.com/assets/Arial.ttf`` when the file is not in
    ``$YOLOV5_CONFIG_DIR``; yolov5 does the same when plotting. matplotlib, which both import,
    ships DejaVu Sans.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return  # the import that follows reports matplotlib as missing
    source = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in _FONTS:
        target = folder / name
        if not target.exists() and source.exists():
            partial = target.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(source, partial)
            partial.replace(target)  # atomic: concurrent imports never see half a font


@contextmanager
def offline_import() -> Iterator[None]:
    """Import an ultralytics-derived package without downloads, lookups or stray files.

    Sets, unless already set: ``YOLOV5_CONFIG_DIR`` (yolov5's and yolort's settings folder,
    where their fonts are looked up) to `config_dir` holding the fonts; ``YOLO_CONFIG_DIR``
    (ultralytics writes ``Ultralytics/settings.json`` there on import) to the same folder;
    ``YOLO_OFFLINE=1`` (ultralytics resolves two DNS names on import to decide whether it is
    online). Silences the ``pkg_resources is deprecated`` warning both packages trigger.
    """
    if "YOLOV5_CONFIG_DIR" not in os.environ or "YOLO_CONFIG_DIR" not in os.environ:
        folder = config_dir()
        if "YOLOV5_CONFIG_DIR" not in os.environ:
            provide_fonts(folder)
            os.environ["YOLOV5_CONFIG_DIR"] = str(folder)
        os.environ.setdefault("YOLO_CONFIG_DIR", str(folder))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        yield
