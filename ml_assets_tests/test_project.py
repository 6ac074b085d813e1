"""`ml_assets.Project`: docs/python.md's walkthrough runs as written on the real hotel data, and what it answers
agrees with what the daily assets stored."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets import Project
from ml_assets.core.data import lake
from ml_assets.spec import ConfigError
from ml_assets_tests.conftest import PROJECT_ROOT
from ml_assets_tests.hotels import HOTELS, require_hotels

DOC = PROJECT_ROOT / "docs" / "python.md"


def doc_blocks() -> list[str]:
    """The python code blocks of docs/python.md, in order."""
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every block of docs/python.md executed in order in a fresh folder beside the hotel data; its namespace."""
    require_hotels()
    folder = tmp_path_factory.mktemp("notebook")
    (folder / HOTELS.name).symlink_to(HOTELS)
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as env:
        env.chdir(folder)
        for block in doc_blocks():
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own examples
    return namespace


def test_every_segment_has_a_champion_from_the_run(walkthrough: dict) -> None:
    result, project = walkthrough["result"], walkthrough["project"]
    assert set(result.segments) == {"city_hotel", "resort_hotel"}
    for outcome in result.segments.values():
        assert outcome.champion_version is not None and outcome.holdout_auc > 0.8
    assert Path(result.lake) == project.spec.home_dir / "lake" and project.spec.home_dir.name == "hotel"
    assert set(result.run_ids) == {"ingest_job", "training_job", "scoring_job"}
    assert result.dagster_home == project.spec.home_dir / "dagster", "the runs live in the project's own instance"


def test_models_lists_both_versions_with_their_runs(walkthrough: dict) -> None:
    versions = walkthrough["project"].models()
    assert sorted(versions.groupby("segment")["version"].apply(list).to_dict().items()) == [
        ("city_hotel", ["1", "2"]), ("resort_hotel", ["1", "2"])]
    assert versions["aliases"].map(lambda aliases: "champion" in aliases).groupby(versions["segment"]).sum().eq(1).all()
    assert versions["mlflow_run_id"].str.len().gt(0).all() and versions["dagster_run_id"].str.len().eq(36).all()
    assert versions.groupby("segment")["dagster_run_id"].nunique().eq(2).all()


def test_compare_names_the_changed_param_and_tests_on_shared_rows(walkthrough: dict) -> None:
    comparison = walkthrough["comparison"]
    changed = comparison.params.set_index("param")
    assert (changed.loc["max_depth", "a"], changed.loc["max_depth", "b"]) == ("5", "7")
    assert comparison.holdout_days == ("2016-03-18", "2016-03-31")
    assert -1 < comparison.holdout.delta < 1 and 0 <= comparison.holdout.p_value <= 1
    assert comparison.importance["a"].sum() == pytest.approx(1) and comparison.importance["b"].sum() == pytest.approx(1)


def test_lineage_names_the_partitions_and_run_of_the_version(walkthrough: dict) -> None:
    project, origin, result = walkthrough["project"], walkthrough["origin"], walkthrough["result"]
    stored = lake.stored_keys(project.spec.lake_dir, "features", "date")
    assert origin.partitions == [day for day in stored if origin.window[0] <= day <= origin.window[1]]
    assert origin.window == ("2016-01-01", "2016-03-31") and origin.rows > 1000
    assert origin.dagster_run_id in result.run_ids.values()
    assert origin.config_hash == project.spec.config_hash()


def test_score_in_memory_equals_what_the_daily_assets_stored(walkthrough: dict) -> None:
    stored, fresh, project = walkthrough["stored"], walkthrough["fresh"], walkthrough["project"]
    ids = project.spec.dataset.id
    stored, fresh = stored.sort_values(ids).reset_index(drop=True), fresh.sort_values(ids).reset_index(drop=True)
    assert len(fresh) == len(stored) > 50
    assert np.allclose(fresh["score"], stored["score"])
    clusters = lake.read_frames([lake.partition_dir(project.spec.lake_dir, "risk_clusters", "date", "2016-03-15")])
    clusters = clusters.sort_values(ids).reset_index(drop=True)
    assert fresh["risk_cluster"].astype(str).tolist() == clusters["risk_cluster"].astype(str).tolist()
    assert fresh["reason_1"].fillna("").tolist() == stored["reason_1"].fillna("").tolist()


def test_monitor_is_the_table_of_the_cli(walkthrough: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from ml_assets.cli import main

    project, table = walkthrough["project"], walkthrough["project"].monitor()
    assert set(table["segment"]) == {"city_hotel", "resort_hotel"} and table["date"].max() == "2016-03-31"
    capsys.readouterr()
    assert main(["monitor", "--config", str(Path(project.spec.base_dir) / "pipeline.yaml"), "--json"]) == 0
    printed = pd.DataFrame(json.loads(capsys.readouterr().out))
    pd.testing.assert_frame_equal(printed, table, check_dtype=False)


def test_tier_three_spec_and_saved_config_round_trip(walkthrough: dict) -> None:
    project, strict = walkthrough["project"], walkthrough["strict"]
    assert strict.spec.training.min_auc == 0.7
    saved = Project.from_config(Path(project.spec.base_dir) / "pipeline.yaml")
    assert saved.spec == project.spec


@pytest.mark.parametrize(("path", "hint"), [("model.parms.max_depth", "did you mean 'params'?"),
                                            ("training.window_dys", "did you mean 'window_days'?"),
                                            ("modle.params", "did you mean 'model'?")])
def test_an_override_naming_no_field_says_the_closest_one(path: str, hint: str) -> None:
    project = Project.from_config(PROJECT_ROOT / "pipeline.yaml")
    with pytest.raises(ConfigError, match=re.escape(hint)):
        project.with_overrides({path: 1})


def test_an_override_of_the_wrong_type_is_named_like_a_config_error() -> None:
    project = Project.from_config(PROJECT_ROOT / "pipeline.yaml")
    with pytest.raises(ConfigError, match=r"training\.window_days: .*value 'ninety'"):
        project.with_overrides({"training.window_days": "ninety"})
    assert project.with_overrides({"training.window_days": 90}).spec.training.window_days == 90
    assert project.spec.training.window_days == 120, "the original project is unchanged"


def test_predictions_of_a_day_never_run_say_what_to_do(tmp_path: Path) -> None:
    project = Project.from_config(PROJECT_ROOT / "pipeline.yaml").with_overrides({"storage.lake": str(tmp_path)})
    with pytest.raises(ValueError, match="'2024-02-30' is not a date; use YYYY-MM-DD"):
        project.predictions("2024-02-30")
    with pytest.raises(ValueError, match="no predictions stored for 2024-02-03 .*; run the pipeline"):
        project.predictions("2024-02-03")
