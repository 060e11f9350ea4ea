"""The one error yolo-diagnostics raises for bad input.

Every message is one line saying what is wrong and where (file, image id, annotation id,
line number, field, row). It subclasses ``ValueError``, so ``except ValueError`` keeps
working; the command line turns it into that line on stderr and exit code 2.
"""

from __future__ import annotations


class DiagnosticsError(ValueError):
    """Bad input -- a dataset, targets, a problem, an assigner, an option or a case file."""
