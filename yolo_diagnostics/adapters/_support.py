"""What the adapters share: quiet imports of packages written for notebooks, and the error
for a package that is not installed."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import NotApplicable
from ..files import user_cache
from ..problem import Problem
from ..rules import RULES

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
    "yolov7": (
        "pip install --no-deps yolov7detect==1.0.1 && pip install pandas matplotlib seaborn "
        "scipy pyyaml requests tqdm"
    ),
    "yolor": "pip install --no-deps yolor==0.0.6 && pip install matplotlib scipy pyyaml tqdm",
    "pytorchyolo": "pip install --no-deps pytorchyolo==1.8.0 && pip install tqdm",
}

# The names under which ultralytics/yolov5 code (and its copies) looks for its fonts.
_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def missing(package: str, error: ImportError) -> ImportError:
    """The one error an adapter raises when its package, or a library it imports, is absent."""
    return ImportError(
        f"the {package} adapter needs the {package!r} package and the libraries it imports "
        f"({error}); install them with: {INSTALL[package]}"
    )


def require_rule(problem: Problem, rule: str, package: str, where: str) -> None:
    """Declare every problem of another neighbour rule `NotApplicable`: each package
    implements one rule."""
    if problem.rule != rule:
        raise NotApplicable(
            f"rule {problem.rule!r}: the {package} package implements only the {rule!r} rule "
            f"(g = {RULES[rule].g:g}; {where})"
        )


def config_dir() -> Path:
    """A writable folder for the packages' settings and fonts: `files.user_cache`
    ``ultralytics`` (``~/.cache/yolo-diagnostics/ultralytics`` by default)."""
    return user_cache("ultralytics")


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


@contextmanager
def modules_aliased(aliases: dict[str, str]) -> Iterator[None]:
    """Make ``import ALIAS...`` find the already importable module ``aliases[ALIAS]`` while the
    block runs, for a package whose code imports itself under a name it was not published
    under; the aliases are removed afterwards, so nothing outside the block sees them."""
    added = []
    for alias, real in aliases.items():
        if alias not in sys.modules:
            sys.modules[alias] = importlib.import_module(real)
            added.append(alias)
    try:
        yield
    finally:
        for alias in added:
            del sys.modules[alias]


@contextmanager
def module_stubbed(name: str, why: str) -> Iterator[None]:
    """While the block runs, let ``import name`` succeed when the module itself cannot be
    imported (not installed, or broken by this NumPy): a placeholder whose every attribute
    raises ImportError saying ``why``. For a module a package imports at the top of a file
    although the code an adapter runs never uses it; removed afterwards."""
    try:
        importlib.import_module(name)
    except Exception:  # absent, or failing at import (imgaug on NumPy 2: np.sctypes)
        pass
    else:
        yield
        return
    placeholder = types.ModuleType(name, f"placeholder: {why}")

    def unavailable(attribute: str) -> object:
        if attribute.startswith("__"):  # introspection (__file__, __path__): not a use
            raise AttributeError(attribute)
        raise ImportError(f"{name}.{attribute}: {name} is not importable here ({why})")

    placeholder.__getattr__ = unavailable  # type: ignore[method-assign]
    absent = object()
    before = sys.modules.get(name, absent)  # None: a blocked import, kept blocked after
    sys.modules[name] = placeholder
    try:
        yield
    finally:
        if sys.modules.get(name) is placeholder:
            if before is absent:
                del sys.modules[name]
            else:
                sys.modules[name] = before  # type: ignore[assignment]
