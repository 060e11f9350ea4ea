"""Tests for the ``--device`` pytest plugin, driven through pytester.

The plugin is loaded in the inner sessions through its ``pytest11`` entry point,
exactly as in a user's run. Runs are made in a subprocess so the exit code and stderr
are those of a real ``pytest`` invocation. The GPU tests run where a GPU is.
"""

from __future__ import annotations

import pytest
import torch

pytest_plugins = ["pytester"]

HINT = "use cpu, cuda or cuda:N"

DEVICE_TESTS = """
def test_on_device(device):
    assert isinstance(device, str)

def test_plain():
    pass
"""

# A test that leaves a file behind when it runs: its absence proves nothing ran.
RECORDING_TEST = """
def test_on_device(device):
    open("ran", "w").close()
"""

needs_no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the error for a machine without CUDA"
)


def header(devices: str) -> str:
    return f"yolo-diagnostics: devices={devices} torch={torch.__version__}"


def collected_ids(result: pytest.RunResult) -> list[str]:
    """Node ids printed by ``--collect-only -q``, in collection order."""
    return [line for line in result.stdout.lines if "::" in line]


def error_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.stderr.lines if line.startswith("ERROR")]


def assert_usage_error(pytester: pytest.Pytester, result: pytest.RunResult) -> str:
    """Check the run stopped before any test ran, and return its single error line."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (pytester.path / "ran").exists()
    assert not any(word in result.stdout.str() for word in ("passed", "skipped", "collected"))
    (line,) = error_lines(result)
    return line


def test_default_runs_device_tests_once_on_cpu(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DEVICE_TESTS)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    assert header("cpu") in result.stdout.lines
    result.stdout.fnmatch_lines(
        ["*::test_on_device[[]cpu[]] PASSED*", "*::test_plain PASSED*"], consecutive=True
    )


def test_repeated_device_is_deduplicated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DEVICE_TESTS)
    result = pytester.runpytest("--device", "cpu", "--device=cpu")
    result.assert_outcomes(passed=2)
    assert header("cpu") in result.stdout.lines


def test_tests_without_device_are_not_parametrized(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DEVICE_TESTS)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert collected_ids(result) == [
        "test_tests_without_device_are_not_parametrized.py::test_on_device[cpu]",
        "test_tests_without_device_are_not_parametrized.py::test_plain",
    ]


def test_explicit_device_parametrization_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("device", ["meta"])
        def test_own(device):
            assert device == "meta"

        @pytest.mark.parametrize("n, device", [(1, "meta")], ids=["one"])
        def test_own_among_others(n, device):
            assert device == "meta"

        @pytest.mark.parametrize(argnames="device", argvalues=["meta"])
        def test_own_by_keyword(device):
            assert device == "meta"

        @pytest.mark.parametrize("device", ["meta"])
        class TestOwn:
            def test_in_class(self, device):
                assert device == "meta"
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=4)
    assert "[cpu]" not in result.stdout.str()


def test_devices_helper_reports_the_choice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from yolo_diagnostics.plugin import devices

        def test_choice(request):
            assert devices(request.config) == ("cpu",)
        """
    )
    pytester.runpytest("--device", "cpu").assert_outcomes(passed=1)


@needs_no_cuda
def test_cuda_without_gpu_is_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RECORDING_TEST)
    result = pytester.runpytest_subprocess("--device", "cuda")
    line = assert_usage_error(pytester, result)
    assert line.startswith("ERROR: --device cuda: CUDA is not available (")
    assert f"(torch {torch.__version__}, " in line
    assert line.endswith("); run without --device cuda or on a machine with a GPU")


@needs_no_cuda
def test_indexed_cuda_without_gpu_is_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RECORDING_TEST)
    result = pytester.runpytest_subprocess("--device", "cpu", "--device", "cuda:1")
    line = assert_usage_error(pytester, result)
    assert line.startswith("ERROR: --device cuda:1: CUDA is not available (")


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("mps", f"ERROR: --device mps: unsupported device; {HINT}"),
        ("cpu:0", f"ERROR: --device cpu:0: unsupported device; {HINT}"),
        ("bogus", f"ERROR: --device bogus: not a device string torch understands; {HINT}"),
        ("cuda:x", f"ERROR: --device cuda:x: not a device string torch understands; {HINT}"),
    ],
)
def test_unsupported_device_is_usage_error(
    pytester: pytest.Pytester, flag: str, message: str
) -> None:
    pytester.makepyfile(RECORDING_TEST)
    result = pytester.runpytest_subprocess("--device", flag)
    assert assert_usage_error(pytester, result) == message


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_gpu
def test_devices_keep_the_order_given(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DEVICE_TESTS)
    result = pytester.runpytest_subprocess(
        "--collect-only", "-q", "--device", "cuda:0", "--device", "cpu", "--device", "cuda:0"
    )
    assert result.ret == pytest.ExitCode.OK
    assert collected_ids(result) == [
        "test_devices_keep_the_order_given.py::test_on_device[cuda:0]",
        "test_devices_keep_the_order_given.py::test_on_device[cpu]",
        "test_devices_keep_the_order_given.py::test_plain",
    ]


@needs_gpu
def test_header_names_cuda_and_gpu(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DEVICE_TESTS)
    result = pytester.runpytest_subprocess("--collect-only", "--device", "cpu", "--device", "cuda")
    assert result.ret == pytest.ExitCode.OK
    gpu = torch.cuda.get_device_name(0)
    assert f"{header('cpu,cuda')} cuda={torch.version.cuda} gpu={gpu}" in result.stdout.lines


@needs_gpu
def test_cuda_index_past_device_count_is_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RECORDING_TEST)
    count = torch.cuda.device_count()
    result = pytester.runpytest_subprocess("--device", f"cuda:{count}")
    line = assert_usage_error(pytester, result)
    assert (
        line == f"ERROR: --device cuda:{count}: no such GPU, torch.cuda.device_count() is {count}"
    )
