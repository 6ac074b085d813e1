"""Helpers of the reliability tests: configs written to disk and pipeline processes (a real subprocess each)."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from ml_assets.spec import PipelineSpec, load_spec
from ml_assets_tests.conftest import demo_config

JOBS = ("ingest", "training", "scoring", "daily")


def write_config(home: Path, landing_dir: Path, **overrides: dict) -> PipelineSpec:
    """The demo config with `overrides` written to <home>/pipeline.yaml (landing files linked in), loaded back."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "landing").exists():
        (home / "landing").symlink_to(landing_dir)
    (home / "pipeline.yaml").write_text(yaml.safe_dump(demo_config(home, **overrides), sort_keys=False))
    return load_spec(home / "pipeline.yaml")


def process_env(spec: PipelineSpec, **extra: str) -> dict[str, str]:
    """The environment of a pipeline process: its own Dagster instance under the spec's home."""
    (spec.home_dir / "dagster").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "DAGSTER_HOME": str(spec.home_dir / "dagster"), "PYTHONUNBUFFERED": "1", **extra}


def started(command: list[str], spec: PipelineSpec, env: dict[str, str]) -> subprocess.Popen:
    """A process running in the background, its output appended to log_file(spec) (a pipe could fill and block it)."""
    with log_file(spec).open("a") as log:
        return subprocess.Popen(command, cwd=spec.base_dir, env=process_env(spec, **env), stdout=log,
                                stderr=subprocess.STDOUT, text=True)


def log_file(spec: PipelineSpec) -> Path:
    """Where background pipeline processes of a spec write their output."""
    return spec.base_dir / "processes.log"


def run_cli(spec: PipelineSpec, job: str, first: str, last: str, wait: bool = True, as_of: str | None = None,
            **env: str) -> subprocess.Popen | subprocess.CompletedProcess:
    """One job over first..last in a new Python process (driver.py), on the spec's persistent instance."""
    command = [sys.executable, "-m", "ml_assets_tests.reliability.driver", str(spec.base_dir / "pipeline.yaml"),
               job, first, last, *([as_of] if as_of else [])]
    if wait:
        return subprocess.run(command, cwd=spec.base_dir, env=process_env(spec, **env), capture_output=True,
                              text=True, timeout=900)
    return started(command, spec, env)


def ml_assets(spec: PipelineSpec, *args: str, wait: bool = True, timeout_s: float = 900,
              **env: str) -> subprocess.Popen | subprocess.CompletedProcess:
    """The `ml-assets` command of this environment with `--config` of the spec, run from the spec's folder."""
    command = [str(Path(sys.executable).parent / "ml-assets"), *args, "--config", str(spec.base_dir / "pipeline.yaml")]
    if wait:
        return subprocess.run(command, cwd=spec.base_dir, env=process_env(spec, **env), capture_output=True,
                              text=True, timeout=timeout_s)
    return started(command, spec, env)
