"""pytest plugin: run device-dependent tests on the devices asked for with ``--device``.

Any test that takes an argument named ``device`` is parametrized over the chosen
devices (``cpu`` unless told otherwise), so one suite covers both the CPU reference
path and the CUDA path of the target assignment. A requested device that this
machine cannot provide ends the session with a usage error rather than a skip:
a GPU run that quietly tested nothing is worse than no run.

torch is imported inside the hooks that need it, never at module level, because
this module is loaded through the ``pytest11`` entry point by every pytest session
in the environment.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import pytest

_DEFAULT_DEVICES = ("cpu",)

_devices_key = pytest.StashKey[tuple[str, ...]]()
_golden_key = pytest.StashKey[list]()


def devices(config: pytest.Config) -> tuple[str, ...]:
    """Return the canonical device strings chosen for this session, in the order given.

    Valid once the plugin's ``pytest_configure`` has run; a ``KeyError`` before that
    (or with the plugin disabled) is deliberate, since guessing ``cpu`` would hide it.
    """
    return config.stash[_devices_key]


def pytest_addoption(parser: pytest.Parser) -> None:
    from .rules import DEFAULT_RULE, RULES

    group = parser.getgroup("yolo-diagnostics")
    group.addoption(
        "--assigner",
        default=None,
        metavar="MODULE:FACTORY",
        help="assigner factory the contract checks (default: the yolov5 reference, "
        "yolo_diagnostics.reference:make_assigner)",
    )
    group.addoption(
        "--golden",
        default=None,
        metavar="FILE",
        help="a snapshot (yolo-diagnostics snapshot): the contract fails on any changed row",
    )
    group.addoption(
        "--rule",
        choices=tuple(RULES),
        default=DEFAULT_RULE,
        help="the neighbour rule the assigner implements; the contract draws every problem "
        f"under it (default: {DEFAULT_RULE})",
    )
    group.addoption(
        "--reference-semantics",
        choices=("yolov5", "ultralytics", "strict", "none"),
        default=None,
        help="reference the contract diffs the assigner against (default: yolov5 for the "
        "anchor contract, ultralytics for the TAL contract)",
    )
    group.addoption(
        "--device",
        action="append",
        default=None,
        metavar="DEVICE",
        help=(
            "run tests that take a 'device' argument on DEVICE: cpu, cuda or cuda:N. "
            "Repeat to run on several devices. Default: cpu."
        ),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Validate ``--device`` and ``--assigner`` before collection: a bad request never runs."""
    requested: list[str] | None = config.getoption("device")
    chosen = _DEFAULT_DEVICES if requested is None else _resolve(requested)
    config.stash[_devices_key] = chosen
    family, semantics = _family(config), config.getoption("reference_semantics")
    own = {"anchor": "yolov5", "tal": "ultralytics"}[family]
    if semantics in ("yolov5", "ultralytics") and semantics != own:
        raise pytest.UsageError(
            f"--reference-semantics {semantics}: the {family} contract's reference takes "
            f"{own}, strict or none"
        )
    spec = config.getoption("assigner")
    if spec is not None:
        from .assigners import load_factory

        try:
            load_factory(spec)
        except ValueError as error:
            raise pytest.UsageError(f"--assigner: {error}") from None
    golden = config.getoption("golden")
    if golden is not None:
        from pathlib import Path

        from .snapshot import read

        try:
            config.stash[_golden_key] = read(Path(golden))
        except ValueError as error:
            raise pytest.UsageError(f"--golden: {error}") from None
    from .profiles import register_profiles

    register_profiles()
    _keep_pytest_cache_out_of_the_user_tree(config)


_CONTRACTS = ("yolo_diagnostics.contract", "yolo_diagnostics.tal.contract")


def _keep_pytest_cache_out_of_the_user_tree(config: pytest.Config) -> None:
    """A session that runs only a contract (``pytest --pyargs yolo_diagnostics.contract``,
    run from a user's repository) keeps pytest's cache in this user's cache folder, not
    ``.pytest_cache/`` where it was run; a ``cache_dir`` the user set is kept.

    Runs before the cache plugin's own ``pytest_configure`` (both try first; plugins loaded
    later are called first), through the ini cache pytest reads ``cache_dir`` from.
    """
    args = [str(a).split("::")[0] for a in config.args]
    contract_only = bool(args) and all(a.startswith(_CONTRACTS) for a in args)
    inicache = getattr(config, "_inicache", None)
    if not (config.option.pyargs and contract_only and isinstance(inicache, dict)):
        return
    if "cache_dir" in getattr(config, "_inicfg", {}):  # the user's ini file or -o says where
        return
    from .files import user_cache

    inicache["cache_dir"] = str(user_cache("pytest"))


def _resolve(requested: Iterable[str]) -> tuple[str, ...]:
    from .devices import resolve_devices

    try:
        return resolve_devices(requested)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``device`` over the chosen devices, unless the test does so itself.

    A test that pins its own ``device`` values (say, a CPU-only reference check) keeps
    them; parametrizing it again would make pytest reject the duplicate.
    """
    if "device" not in metafunc.fixturenames or _parametrizes_device(metafunc):
        return
    chosen = devices(metafunc.config)
    metafunc.parametrize("device", chosen, ids=chosen)


def _parametrizes_device(metafunc: pytest.Metafunc) -> bool:
    for mark in metafunc.definition.iter_markers(name="parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if "device" in _split_argnames(argnames):
            return True
    return False


def _split_argnames(argnames: str | Sequence[str]) -> list[str]:
    """Split argnames the way ``pytest.mark.parametrize`` does ("a,b" or ["a", "b"])."""
    if isinstance(argnames, str):
        return [name.strip() for name in argnames.split(",") if name.strip()]
    return list(argnames)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which devices, torch, assigner and Hypothesis profile the run used."""
    import torch

    chosen = devices(config)
    header = f"yolo-diagnostics: devices={','.join(chosen)} torch={torch.__version__}"
    cuda = [name for name in chosen if name.startswith("cuda")]
    if cuda:
        header += f" cuda={torch.version.cuda} gpu={torch.cuda.get_device_name(cuda[0])}"
    name, profile = _profile(config)
    seed = config.getoption("hypothesis_seed", None)
    seed_text = seed if seed is not None else "derandomized" if profile.derandomize else "random"
    family = _family(config)
    rule = f"rule={config.getoption('rule')} " if family == "anchor" else "family=tal "
    contract = (
        f"yolo-diagnostics contract: assigner={_assigner_spec(config)} {rule}"
        f"reference={_semantics(config)} strict={_strict(config)} "
        f"hypothesis-profile={name} seed={seed_text}"
    )
    return [header, contract]


_TAL_CONTRACT = "yolo_diagnostics.tal.contract"
_TAL_DEFAULT_ASSIGNER = "yolo_diagnostics.tal.reference:make_assigner"


def _family(config: pytest.Config) -> str:
    """``tal`` when the session runs only the TAL contract, else ``anchor``: which family's
    default assigner and reference semantics the options mean."""
    args = [str(a).split("::")[0] for a in config.args]
    tal = [a.startswith(_TAL_CONTRACT) or "/tal/contract" in a for a in args]
    return "tal" if args and all(tal) else "anchor"


def _assigner_spec(config: pytest.Config, family: str | None = None) -> str:
    from .assigners import DEFAULT_ASSIGNER

    default = {"anchor": DEFAULT_ASSIGNER, "tal": _TAL_DEFAULT_ASSIGNER}
    return config.getoption("assigner") or default[family or _family(config)]


def _semantics(config: pytest.Config, family: str | None = None) -> str:
    chosen = config.getoption("reference_semantics")
    return chosen or {"anchor": "yolov5", "tal": "ultralytics"}[family or _family(config)]


def _strict(config: pytest.Config) -> bool:
    """pytest's own ``--strict``: the contract then fails on quirk findings too."""
    return bool(config.getoption("strict", False))


def _profile(config: pytest.Config):
    """The Hypothesis profile the contract uses: ``--hypothesis-profile``, else ``ci`` when
    CI is set, else ``dev``."""
    from hypothesis import settings

    from .profiles import default_profile

    name = config.getoption("hypothesis_profile", None) or default_profile()
    return name, settings.get_profile(name)


@pytest.fixture(scope="session")
def contract_options(pytestconfig: pytest.Config):
    """The assigner under contract and how strictly to judge it (`ContractOptions`)."""
    from .assigners import load_factory
    from .contract.properties import ContractOptions

    spec = _assigner_spec(pytestconfig, "anchor")
    semantics = _semantics(pytestconfig, "anchor")
    return ContractOptions(
        factory=load_factory(spec),
        assigner=spec,
        devices=devices(pytestconfig),
        strict=_strict(pytestconfig),
        reference=None if semantics == "none" else semantics,
        rule=pytestconfig.getoption("rule"),
    )


@pytest.fixture(scope="session")
def tal_contract_options(pytestconfig: pytest.Config):
    """The TAL assigner under contract and how strictly to judge it (`TalContractOptions`)."""
    from .assigners import load_factory
    from .tal.contract.properties import TalContractOptions

    spec = _assigner_spec(pytestconfig, "tal")
    semantics = _semantics(pytestconfig, "tal")
    return TalContractOptions(
        factory=load_factory(spec),
        assigner=spec,
        devices=devices(pytestconfig),
        strict=_strict(pytestconfig),
        reference=None if semantics == "none" else semantics,
    )


@pytest.fixture(scope="session")
def contract_golden(pytestconfig: pytest.Config):
    """The ``--golden`` snapshot's cases, or None."""
    return pytestconfig.stash.get(_golden_key, None)


@pytest.fixture(scope="session")
def contract_profile(pytestconfig: pytest.Config):
    """The Hypothesis settings the contract's properties run with."""
    return _profile(pytestconfig)[1]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Label contract reports, save each failing case, and attach its overlay to the HTML.

    Runs around every other makereport hook, so it also moves the ``extra`` that
    Hypothesis still sets (pytest-html 4 reads only ``extras``) into ``extras``.
    """
    report: pytest.TestReport = (yield).get_result()
    if hasattr(report, "extra"):
        report.extras = [*getattr(report, "extras", []), *report.extra]
        del report.extra
    funcargs = getattr(item, "funcargs", {})
    options = funcargs.get("contract_options") or funcargs.get("tal_contract_options")
    device = funcargs.get("device")
    if device is not None:
        report.user_properties.append(("device", str(device)))
    if options is None:
        return
    report.user_properties.append(("assigner", options.assigner))
    from .harness.property import ContractFailure

    failure = call.excinfo.value if call.excinfo is not None else None
    if report.when == "call" and isinstance(failure, ContractFailure) and failure.case:
        report.user_properties.append(("check", failure.check))
        _keep_failure(item, report, options, str(device or "cpu"), failure)


def _keep_failure(item, report, options, device: str, failure) -> None:
    """Save the minimal case under reports/cases; with --html, attach what shows the bug."""
    from .contract.cases import case_from_data
    from .report.contract import case_file, failure_html, overlay, save_case

    notes = getattr(failure, "__notes__", [])
    reproduce = next((n.strip() for n in notes if "@reproduce_failure" in n), None)
    content = case_file(options, failure, reproduce)
    # the invocation folder: with --pyargs the rootdir may be site-packages
    folder = item.config.invocation_params.dir / "reports" / "cases"
    path = save_case(folder, item.nodeid, content)
    report.sections.append(
        ("yolo-diagnostics", f"minimal case saved to {path}\nreplay: yolo-diagnostics show {path}")
    )
    if not item.config.getoption("htmlpath", None):
        return  # no report, nothing rendered
    from pytest_html import extras

    if failure.case.get("family") == "tal":
        from .report.tal import tal_failure_html, tal_overlay
        from .tal.contract.cases import case_from_data as tal_case_from_data

        _, _, case = tal_case_from_data(failure.case)
        html_extra = tal_failure_html(
            options, device, failure, tal_overlay(options, device, case), reproduce
        )
    else:
        _, _, case = case_from_data(failure.case)
        found = overlay(options, device, case, failure)
        html_extra = failure_html(options, device, failure, found, reproduce)
    # one HTML extra holds the images: a readable close-up in the row and the full overlay a
    # click away; a png extra would be a 320 px thumbnail (and pytest-html's viewer would
    # take over the first <img> of the row)
    report.extras = [
        *getattr(report, "extras", []),
        extras.html(html_extra),
        extras.json(content, name="case JSON"),
        extras.text(
            reproduce or "no @reproduce_failure blob (print_blob is off)", name="reproduce"
        ),
    ]


_COLUMNS = (("device", "Device"), ("assigner", "Assigner"), ("check", "Check"))


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    for i, (_, title) in enumerate(_COLUMNS):
        cells.insert(2 + i, f"<th>{title}</th>")


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    values = dict(report.user_properties)
    for i, (key, _) in enumerate(_COLUMNS):
        cells.insert(2 + i, f"<td>{html.escape(str(values.get(key, '')))}</td>")


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, object], config: pytest.Config) -> None:
    """Environment rows of the HTML report: torch, the GPU, the assigner, the profile.

    pytest-html puts environment values into its page as HTML, so with ``--html`` they are
    escaped here: an assigner spec is whatever was typed, and must show as text.
    """
    import torch

    from .profiles import default_profile

    seed = config.getoption("hypothesis_seed", None)
    rows = {
        # a plain str: torch's TorchVersion is a str subclass that pytest-xdist cannot send
        # from its workers (pytest-metadata hands the rows back at the end of the run)
        "torch": str(torch.__version__),
        "CUDA device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "assigner": _assigner_spec(config),
        "rule": config.getoption("rule") if _family(config) == "anchor" else "(TAL)",
        "Hypothesis profile": config.getoption("hypothesis_profile", None) or default_profile(),
        "Hypothesis seed": "derandomized or random" if seed is None else str(seed),
    }
    as_html = bool(config.getoption("htmlpath", None))
    metadata.update({k: html.escape(v) if as_html else v for k, v in rows.items()})
