"""Files written whole or not at all.

`write_atomic` writes beside the target under a fresh hidden name, then renames it over the
target: a reader, or a run interrupted by SIGINT or SIGTERM, sees the previous file or the
new one, never half of one. `Staging` does the same for a folder of files (the scan report):
everything is written into a hidden folder inside the destination, and only a finished run
moves its files into place. A path that cannot be written (a folder, a file where a folder
should be, no permission) is one `DiagnosticsError` naming it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

from .errors import DiagnosticsError


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file and a rename.

    Missing folders are created. Raises `DiagnosticsError` naming ``path`` when it is a
    folder or cannot be written.
    """
    path = Path(path)
    if not path.name or path.is_dir():
        raise DiagnosticsError(f"{path}: is a folder, expected a file name to write")
    make_folder(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(partial, "xb") as f:  # a fresh name, created with the umask's mode
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DiagnosticsError(f"{path}: cannot write: {error.strerror or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def writable(path: Path) -> Path:
    """Check, before any work, that `write_atomic` could write ``path``; nothing is created.

    Raises the `DiagnosticsError` `write_atomic` would: ``path`` a folder, a file where one of
    its folders should be, or a folder that cannot be created or written.
    """
    path = Path(path)
    if not path.name or path.is_dir():
        raise DiagnosticsError(f"{path}: is a folder, expected a file name to write")
    folder = path.parent
    while not folder.exists():  # the nearest existing ancestor decides
        if folder.parent == folder:
            break
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise DiagnosticsError(f"{folder}: is a file, expected a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DiagnosticsError(f"{path}: cannot write: Permission denied")
    return path


def user_cache(*names: str) -> Path:
    """A folder of this user's platform cache, created if needed: ``$XDG_CACHE_HOME``
    (``~/.cache`` by default) ``/yolo-diagnostics/<names>``, else one of this user's under
    the temporary directory. Never the folder a command is run from."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for folder in (
        cache.joinpath("yolo-diagnostics", *names),
        Path(tempfile.gettempdir()).joinpath(f"yolo-diagnostics-{os.getuid()}", *names),
    ):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return Path(tempfile.mkdtemp(prefix="yolo-diagnostics-"))


def make_folder(folder: Path) -> Path:
    """Create ``folder`` and its parents if missing; `DiagnosticsError` naming the one that
    cannot be (a file in the way, no permission)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # mkdir's exist_ok does not cover a file of that name
        raise DiagnosticsError(f"{error.filename}: is a file, expected a folder") from None
    except OSError as error:
        where = error.filename or folder
        raise DiagnosticsError(f"{where}: cannot create the folder: {error.strerror}") from None
    return folder


class Staging:
    """A hidden folder ``<out>/.partial-<pid>`` to write a report into, then `publish`.

    Until `publish`, ``out`` keeps whatever complete report it had; `discard` (also run when
    the ``with`` block ends without publishing, on any exception or interrupt) removes the
    staged files. `publish` moves every staged file over its place in ``out``, the files
    named in ``last`` at the end (the index, so that it never points at pages not yet
    moved), then removes the staging folder.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.root = self.out / f".partial-{os.getpid()}-{secrets.token_hex(4)}"

    def __enter__(self) -> Staging:
        make_folder(self.out)
        try:
            self.root.mkdir()
        except OSError as error:
            raise DiagnosticsError(f"{self.out}: cannot write: {error.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def publish(self, last: tuple[str, ...] = ()) -> list[Path]:
        """Move the staged files into ``out``; returns their final paths."""
        staged = sorted(p for p in self.root.rglob("*") if p.is_file())
        staged.sort(key=lambda p: p.relative_to(self.root).as_posix() in last)
        moved = []
        for source in staged:
            target = self.out / source.relative_to(self.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            moved.append(target)
        self.discard()
        return moved

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
