"""Shared fixtures: a small pipeline config over generated demo data in a temporary folder."""

import os

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if WORKERS:  # set before numpy/xgboost load, so pytest-xdist's workers share the cores instead of oversubscribing
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // WORKERS)))

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ml_assets.core.data.synthetic import DriftInjection, generate_invoices, write_landing_files
from ml_assets.runner import RunSummary, run_pipeline
from ml_assets.spec import PipelineSpec, parse_spec, substitute_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SMALL_START = date(2024, 1, 1)
SMALL_END = date(2024, 6, 30)


def demo_config(home: Path, **overrides: dict) -> dict:
    """The project's pipeline.yaml as a dict, with its outputs and landing files under `home`."""
    text = (PROJECT_ROOT / "pipeline.yaml").read_text().replace("${ML_ASSETS_LANDING:-data/landing}", "landing")
    text = text.replace("${ML_ASSETS_ALERT_WEBHOOK:-}", "")  # tests never post to a real webhook
    raw = substitute_env(yaml.safe_load(text.replace("${ML_ASSETS_HOME:-data}", "out").replace("${MLFLOW_TRACKING_URI:-}", "")))
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    return raw


def make_spec(home: Path, **overrides: dict) -> PipelineSpec:
    """A validated spec rooted at `home` (config paths resolve against it)."""
    return parse_spec(demo_config(home, **overrides), base_dir=home)


@pytest.fixture(scope="session")
def landing_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six months of demo invoices (2,500 customers, drift from June) as daily CSV files, made once."""
    home = tmp_path_factory.mktemp("landing_home")
    invoices = generate_invoices(2500, SMALL_START, SMALL_END, seed=3, drift=DriftInjection(start=date(2024, 6, 1)))
    write_landing_files(invoices, home / "landing")
    return home / "landing"


@pytest.fixture
def small_spec(tmp_path: Path, landing_dir: Path) -> PipelineSpec:
    """Demo config over the shared landing files, writing into this test's own folder."""
    (tmp_path / "landing").symlink_to(landing_dir)
    return make_spec(tmp_path, training={"window_days": 90, "holdout_days": 14, "min_auc": 0.6})


@pytest.fixture(scope="session")
def graph_run(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path) -> tuple[PipelineSpec, RunSummary]:
    """One full run of the graph over six months of demo data, shared by the tests that read its outputs."""
    home = tmp_path_factory.mktemp("graph")
    (home / "landing").symlink_to(landing_dir)
    spec = make_spec(home, training={"window_days": 90, "holdout_days": 14, "min_auc": 0.55})
    with dg.instance_for_test() as instance:
        summary = run_pipeline(spec, SMALL_START, SMALL_END, instance, progress=lambda _: None)
        assert len(instance.get_runs()) == 3, "ingest, training and scoring each run once for the whole range"
    return spec, summary


@pytest.fixture(scope="session")
def ingested_lake(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path) -> Path:
    """Features of 2024-01-01..2024-03-31 ingested once; training tests copy this lake into their own home."""
    from ml_assets_tests.training_support import TRAINING, ingest

    home = tmp_path_factory.mktemp("ingested")
    (home / "landing").symlink_to(landing_dir)
    spec = make_spec(home, training=TRAINING)
    ingest(spec)
    return Path(str(spec.lake_dir))


@pytest.fixture(scope="session")
def hotel_half_year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ml-assets init` on the real hotel bookings, then `run` over the first half of 2016; the config path."""
    from ml_assets_tests.hotels import init_and_run_hotels

    return init_and_run_hotels(tmp_path_factory.mktemp("hotel_half_year"), "2016-01-01", "2016-06-30")


SHARED_SESSION_FIXTURES = ("graph_run", "ui_instance", "hotel_half_year")  # whole-graph runs: one worker builds each


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every test of a file in one pytest-xdist group (`--dist loadgroup`): the file's module fixtures run
    once, and the files that use a costly session fixture share one group, so one worker builds it once and its
    files run in the order a single process would run them."""
    shared_by_file: dict[str, str] = {}
    for item in items:
        used = next((name for name in SHARED_SESSION_FIXTURES if name in item.fixturenames), None)
        if used and str(item.path) not in shared_by_file:
            shared_by_file[str(item.path)] = used
    for item in items:
        item.add_marker(pytest.mark.xdist_group(shared_by_file.get(str(item.path), str(item.path))))
