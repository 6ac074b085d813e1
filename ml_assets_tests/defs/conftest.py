"""A small materialized instance the UI tests read: five months of the demo graph, each job one run over the
range, on a persistent instance folder the Dagster webserver can serve, with its config and workspace files."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ml_assets.core.data.synthetic import DriftInjection, generate_invoices, write_landing_files
from ml_assets.runner import run_pipeline
from ml_assets.spec import PipelineSpec, load_spec
from ml_assets_tests.conftest import PROJECT_ROOT, demo_config

UI_START, UI_END = date(2024, 1, 1), date(2024, 5, 31)
UI_OVERRIDES = {"dataset": {"end_date": UI_END.isoformat()},  # Plots over partitions end at the data's last day
                "training": {"window_days": 75, "holdout_days": 14, "min_auc": 0.5},  # every segment gets a champion
                "drift": {"min_rows": 50, "evidently": {"days": "last", "sample_rows": 500}},
                "monitoring": {"performance": {"window_days": 14, "min_rows": 50}}}


@dataclass(frozen=True)
class UiInstance:
    """A materialized pipeline: its spec, its Dagster instance, and the files a webserver needs to serve it."""

    spec: PipelineSpec
    instance: dg.DagsterInstance
    config: Path
    workspace: Path
    dagster_home: Path


@pytest.fixture(scope="session")
def ui_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiInstance]:
    """2,500 customers' invoices (price shock from May), run through the whole graph once."""
    home = tmp_path_factory.mktemp("ui_instance")
    invoices = generate_invoices(2500, UI_START, UI_END, seed=11, drift=DriftInjection(start=date(2024, 5, 1)))
    write_landing_files(invoices, home / "landing")
    config = home / "pipeline.yaml"
    config.write_text(yaml.safe_dump(demo_config(home, **UI_OVERRIDES), sort_keys=False))
    workspace = home / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "ml_assets.definitions", "location_name": "ml_assets",
        "working_directory": str(PROJECT_ROOT)}}]}))
    spec = load_spec(config)
    (home / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        run_pipeline(spec, UI_START, UI_END, instance, progress=lambda _: None)
        yield UiInstance(spec, instance, config, workspace, home / "dagster")
