"""`Violation`'s rows and targets: given as a column, read as the tuple."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest
import torch

from yolo_diagnostics.violations import Violation


def test_a_column_reads_as_the_tuple_of_its_values() -> None:
    v = Violation("collisions", "info", 1, torch.tensor([7, 3, 9]), np.array([2, 0]), "m")
    assert v.rows == (7, 3, 9) and type(v.rows) is tuple and type(v.rows[0]) is int
    assert v.targets == (2, 0) and type(v.targets[1]) is int
    assert v == Violation("collisions", "info", 1, (7, 3, 9), (2, 0), "m")
    assert v != Violation("collisions", "info", 1, (7, 3), (2, 0), "m")
    assert hash(v) == hash(Violation("collisions", "info", 1, (7, 3, 9), (2, 0), "m"))


def test_copies_pickles_and_json_carry_the_values() -> None:
    v = Violation("duplicates", "quirk", 0, torch.tensor([4, 5]), torch.tensor([1]), "m")
    error = v.with_severity("error")
    assert (error.severity, v.severity) == ("error", "quirk")
    assert (error.rows, error.targets, error.message) == ((4, 5), (1,), "m")
    assert pickle.loads(pickle.dumps(error)) == error
    data = json.loads(json.dumps(dataclasses.asdict(v)))
    assert data["rows"] == [4, 5] and data["targets"] == [1]
    assert "rows=(4, 5)" in repr(v)


def test_every_field_stays_required() -> None:
    with pytest.raises(TypeError, match="message"):
        Violation("bounds", "error", 0, (1,), (2,))  # type: ignore[call-arg]
