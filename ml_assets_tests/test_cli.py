"""The ml-assets command: validate and run argument handling, with readable errors and exit codes."""

from pathlib import Path

import pytest
import yaml

from ml_assets.cli import main
from ml_assets_tests.conftest import demo_config


def write_config(folder: Path, config: dict) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_validate_accepts_the_demo_config_and_checks_landing_columns(
        tmp_path: Path, landing_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "landing").symlink_to(landing_dir)
    config = demo_config(tmp_path)
    assert main(["validate", "--config", str(write_config(tmp_path, config))]) == 0
    assert "has every required column" in capsys.readouterr().out


def test_validate_reports_a_column_the_files_do_not_have(
        tmp_path: Path, landing_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "landing").symlink_to(landing_dir)
    config = demo_config(tmp_path)
    config["dataset"]["columns"]["regions"] = "str"
    assert main(["validate", "--config", str(write_config(tmp_path, config))]) == 2
    err = capsys.readouterr().err
    assert "'regions' is not in" in err and "did you mean 'region'?" in err


def test_validate_fails_on_a_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = demo_config(tmp_path)
    config["training"]["window_dayz"] = 30
    assert main(["validate", "--config", str(write_config(tmp_path, config))]) == 2
    assert "training.window_dayz: unknown field (value 30); did you mean 'window_days'?" in capsys.readouterr().err


def test_run_refuses_a_reversed_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, demo_config(tmp_path))
    assert main(["run", "--config", str(path), "--start", "2024-02-01", "--end", "2024-01-01"]) == 2
    assert "--end 2024-01-01 is before --start 2024-02-01" in capsys.readouterr().err


def test_run_on_missing_landing_files_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    path = write_config(tmp_path, demo_config(tmp_path))
    assert main(["run", "--config", str(path), "--start", "2024-01-01", "--end", "2024-01-02"]) == 1
    err = capsys.readouterr().err
    assert "invoices_2024-01-01.csv: landing file not found" in err
