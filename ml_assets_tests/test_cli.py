"""The ml-assets command: validate and run argument handling, with readable errors and exit codes."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ml_assets import cli
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


def test_run_on_missing_landing_files_names_the_file_and_stops_the_chain(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, demo_config(tmp_path))
    assert main(["run", "--config", str(path), "--start", "2024-01-01", "--end", "2024-01-02"]) == 1
    out, err = capsys.readouterr()
    assert "invoices_2024-01-01.csv: landing file not found" in err
    [run] = dg.DagsterInstance.from_config(str(tmp_path / "out" / "dagster")).get_runs()
    assert run.job_name == "ingest_job" and run.status == dg.DagsterRunStatus.FAILURE
    assert f"ingest_job failed (run {run.run_id}, http://127.0.0.1:3000/runs/{run.run_id})" in err
    assert "not started: training_job, scoring_job" in err and "stopped: ingest_job failed; unscored rows: 0" in err
    assert "Traceback" not in out + err and "raw_data [2024-01-01..2024-01-02] FAILED after" in out


@pytest.mark.parametrize("command", ["demo", "run", "validate", "models", "promote", "rollback", "init"])
def test_each_command_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main([command, "--help"])
    assert exit_code.value.code == 0
    assert f"example:\n  ml-assets {command}" in capsys.readouterr().out


def test_main_help_lists_commands_with_examples_and_the_date_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Dates are YYYY-MM-DD" in out and "ml-assets run --config pipeline.yaml --start" in out
    assert all(command in out for command in ("demo", "run", "validate", "models", "promote", "rollback", "init"))


def test_a_bad_date_says_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--start", "01/02/2024", "--end", "2024-01-31"])
    assert "'01/02/2024' is not a date; use YYYY-MM-DD" in capsys.readouterr().err


def test_validate_names_bad_xgboost_params_and_cron_in_a_few_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = demo_config(tmp_path)
    config["model"]["params"] = {"eta": "fast", "max_dept": 4}
    config["automation"] = {"daily": {"cron": "0 6 * * 8", "status": "running"}}
    assert main(["validate", "--config", str(write_config(tmp_path, config))]) == 2
    err = capsys.readouterr().err
    assert "model.params.eta: 'fast' is not a number" in err
    assert "model.params.max_dept: 'max_dept' is not an XGBoost parameter; did you mean 'max_depth'?" in err
    assert "automation.daily.cron: cron '0 6 * * 8' is not a cron expression" in err
    assert len(err.splitlines()) == 4 and "Traceback" not in err


def test_an_unexpected_error_is_one_line_and_its_trace_only_under_verbose(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(spec):
        raise KeyError("boom")

    monkeypatch.setattr(cli, "validate", broken)
    path = str(write_config(tmp_path, demo_config(tmp_path)))
    assert main(["validate", "--config", path]) == 1
    err = capsys.readouterr().err
    assert err == "error: KeyError: 'boom' (rerun with --verbose for the stack trace)\n"
    assert main(["validate", "--config", path, "--verbose"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_help_and_validate_load_neither_dagster_nor_pandas_nor_mlflow(tmp_path: Path, landing_dir: Path) -> None:
    (tmp_path / "landing").symlink_to(landing_dir)
    path = write_config(tmp_path, demo_config(tmp_path))
    script = ("import sys; from ml_assets.cli import main; code = main(['validate', '--config', sys.argv[1]]); "
              "print(code, sorted(m for m in ('dagster', 'pandas', 'mlflow', 'xgboost', 'upath') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "0 []"
