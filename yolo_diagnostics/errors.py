"""The one error yolo-diagnostics raises for bad input.

Every message is one line saying what is wrong and where (file, image id, annotation id,
line number, field, row). It subclasses ``ValueError``, so ``except ValueError`` keeps
working; the command line turns it into that line on stderr and exit code 2.
"""

from __future__ import annotations


class DiagnosticsError(ValueError):
    """Bad input -- a dataset, targets, a problem, an assigner, an option or a case file."""


class NotApplicable(DiagnosticsError):
    """An assigner's declaration that it does not implement a problem: another neighbour rule,
    another number of anchors per level or of levels than its code supports.

    Raise it from the factory or from the ``build_targets`` it returns, with one line saying
    what the implementation cannot take. ``check`` and the contract then count that case or
    example as *not applicable* -- never as a crash or a failure -- and fail only when
    nothing applicable is left.
    """
