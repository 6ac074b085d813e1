"""Hostile input, property-based (hypothesis): random bytes, cut files and adversarial values given to the config
loader and to ingestion end in a ConfigError / ValueError naming the file, or in a correct result; never a raw
KeyError, TypeError or UnicodeDecodeError. Relative storage paths cannot leave the data home."""

import gzip
import io
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_assets.core.data import schemas, sources
from ml_assets.core.data.synthetic import generate_invoices
from ml_assets.spec import ConfigError, PipelineSpec, load_spec, parse_spec
from ml_assets_tests.conftest import PROJECT_ROOT, demo_config

BOUNDED = settings(max_examples=40, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(BOUNDED, max_examples=15)  # each example validates a whole day against the contract
DAY = date(2024, 3, 1)
ADVERSARIAL = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "../../etc", "${UNSET_VAR_ML_ASSETS}", "{x}", "1e308", "-inf", "NaN", "\x00", "Ω" * 200,
                     "2024-13-45", "1,000.5"]),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def demo_yaml() -> str:
    return (PROJECT_ROOT / "pipeline.yaml").read_text()


def assert_clear(error: Exception, *names: str) -> None:
    """A project error whose message names what it is about and carries no Python traceback."""
    assert isinstance(error, ConfigError | ValueError | FileNotFoundError), f"raw {type(error).__name__}: {error}"
    text = str(error)
    assert text.strip() and "Traceback" not in text
    assert any(name in text for name in names), text


def load_or_error(path: Path) -> PipelineSpec | None:
    """The spec, or None after checking the error is a clear ConfigError naming the file."""
    try:
        return load_spec(path)
    except Exception as error:  # noqa: BLE001 - the property is what kind of error it is
        assert isinstance(error, ConfigError), f"raw {type(error).__name__}: {error}"
        assert str(path) in str(error) and "Traceback" not in str(error)
        return None


@BOUNDED
@given(payload=st.binary(max_size=400))
def test_random_bytes_as_config_are_a_config_error(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(payload)
    assert load_or_error(path) is None


@BOUNDED
@given(cut=st.integers(min_value=0, max_value=len(demo_yaml())))
def test_a_cut_config_is_valid_or_a_config_error(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(demo_yaml()[:cut])
    spec = load_or_error(path)
    assert spec is None or spec.name == "utility_risk"


def leaf_paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a leaf (scalar or list item) of a nested config mapping."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaf_paths(item, (*prefix, key))]
    if isinstance(value, list) and value:
        return [p for i, item in enumerate(value) for p in leaf_paths(item, (*prefix, i))]
    return [prefix]


def replaced(config: dict, path: tuple, value: object) -> dict:
    """A deep copy of `config` with the leaf at `path` set to `value`."""
    copy = yaml.safe_load(yaml.safe_dump(config))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


CONFIG = demo_config(Path("."))
LEAVES = leaf_paths(CONFIG)


@BOUNDED
@given(where=st.sampled_from(LEAVES), value=ADVERSARIAL)
def test_an_adversarial_value_anywhere_in_the_config_is_valid_or_a_config_error(tmp_path: Path, where: tuple,
                                                                                 value: object) -> None:
    try:
        parse_spec(replaced(CONFIG, where, value), base_dir=tmp_path, origin="pipeline.yaml")
    except Exception as error:  # noqa: BLE001
        assert_clear(error, "pipeline.yaml")
        assert isinstance(error, ConfigError)


PATH_PARTS = st.lists(st.sampled_from(["..", ".", "data", "lake", "a/..", "../x", "~", "s3://bucket", "/tmp"]),
                      min_size=1, max_size=4)


@BOUNDED
@given(lake=PATH_PARTS, reports=PATH_PARTS, home=PATH_PARTS)
def test_relative_storage_paths_never_leave_the_data_home(tmp_path: Path, lake: list[str], reports: list[str],
                                                           home: list[str]) -> None:
    storage = {"home": "/".join(home), "lake": "/".join(lake), "reports": "/".join(reports)}
    try:
        spec = parse_spec(demo_config(tmp_path, storage=storage), base_dir=tmp_path)
    except ConfigError as error:
        assert "outside the data home" in str(error) or "leaves the config's folder" in str(error)
        return
    written = {"home": spec.home_dir, "lake": Path(str(spec.lake_dir)), "reports": spec.reports_dir}
    for field, location in storage.items():
        explicit = "://" in location or Path(location).expanduser().is_absolute()
        if explicit:
            continue
        inside = tmp_path.resolve() if field == "home" else spec.home_dir
        assert written[field] == inside or inside in written[field].parents, (field, location)


def test_storage_lake_escaping_the_home_is_refused_with_the_path_and_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_spec(demo_config(tmp_path, storage={"lake": "../../etc"}), base_dir=tmp_path)
    message = str(raised.value)
    assert "storage.lake: '../../etc' resolves to" in message and "outside the data home" in message
    assert "absolute path or URL" in message
    explicit = parse_spec(demo_config(tmp_path, storage={"lake": "/srv/lake"}), base_dir=tmp_path)
    assert str(explicit.lake_dir) == "/srv/lake", "an explicit absolute path is the user's choice"


# ---- ingestion: landing files and the raw_data contract

@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> PipelineSpec:
    return parse_spec(demo_config(tmp_path_factory.mktemp("hostile")), base_dir=Path("."))


@pytest.fixture(scope="module")
def landing_csv() -> bytes:
    """One real day of demo invoices as CSV bytes."""
    frame = generate_invoices(60, DAY, DAY, seed=1)
    return frame.to_csv(index=False).encode()


def ingest_file(path: Path, spec: PipelineSpec) -> schemas.ContractResult | None:
    """Read a landing file and enforce the raw contract, as raw_data does; None after a clear read error."""
    try:
        frame = sources.read_landing_file(str(path))
    except Exception as error:  # noqa: BLE001
        assert_clear(error, str(path))
        return None
    result = schemas.enforce(schemas.raw_schema(spec.dataset, DAY, DAY), frame)
    assert result.passed or len(result.failures) > 0, "a failed contract names its failures"
    if not result.passed:
        assert schemas.describe_failures(result.failures).strip()
    return result


@BOUNDED
@given(payload=st.binary(min_size=1, max_size=600), suffix=st.sampled_from([".csv", ".csv.gz", ".parquet"]))
def test_random_bytes_as_a_landing_file_are_a_clear_error_or_a_checked_frame(tmp_path: Path, spec: PipelineSpec,
                                                                             payload: bytes, suffix: str) -> None:
    path = tmp_path / f"invoices_{DAY}{suffix}"
    path.write_bytes(payload)
    ingest_file(path, spec)


@FEW
@given(fraction=st.floats(min_value=0.0, max_value=1.0), compressed=st.booleans())
def test_a_cut_landing_file_is_a_clear_error_or_a_checked_frame(tmp_path: Path, spec: PipelineSpec,
                                                                 landing_csv: bytes, fraction: float,
                                                                 compressed: bool) -> None:
    payload = gzip.compress(landing_csv, mtime=0) if compressed else landing_csv
    path = tmp_path / f"invoices_{DAY}.csv{'.gz' if compressed else ''}"
    path.write_bytes(payload[:max(1, int(len(payload) * fraction))])
    result = ingest_file(path, spec)
    if fraction == 1.0:
        assert result is not None and result.passed, "the whole file is a valid day"


CELLS = st.sampled_from(["inf", "-inf", "1e308", "NaN", "", "nan", "1,000", "2024-13-45", "2024-03-01T00:00:00+05:00",
                         "\x00", '"', "0x1F", "9" * 40, "-1", "3.5", "Ω", "None", "TRUE"])


@FEW
@given(cells=st.lists(st.tuples(st.integers(min_value=0, max_value=59), st.integers(min_value=0, max_value=22),
                                CELLS), min_size=1, max_size=6))
def test_adversarial_cells_are_contract_failures_or_valid_rows(tmp_path: Path, spec: PipelineSpec,
                                                               landing_csv: bytes, cells: list) -> None:
    frame = pd.read_csv(io.BytesIO(landing_csv), dtype=str, keep_default_na=False)
    for row, column, value in cells:
        frame.iat[row % len(frame), column % frame.shape[1]] = value
    path = tmp_path / f"invoices_{DAY}.csv"
    frame.to_csv(path, index=False)
    result = ingest_file(path, spec)
    if result is not None and result.passed:
        numeric = [c for c, kind in spec.dataset.columns.items() if kind in ("int", "float")]
        values = result.frame[numeric].astype("float64").abs()
        assert not (values == float("inf")).any().any(), "a passed contract holds only finite numbers"


