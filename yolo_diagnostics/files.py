"""Files written whole or not at all.

`write_atomic` writes beside the target under a fresh hidden name, then renames it over the
target: a reader, or a run interrupted by SIGINT or SIGTERM, sees the previous file or the
new one, never half of one. `Staging` does the same for a folder of files (the scan report):
everything is written into a hidden folder inside the destination, and only a finished run
moves its files into place.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(partial, "xb") as f:  # a fresh name, created with the umask's mode
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


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
        self.root.mkdir(parents=True)
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
