"""Secrets reach resources as dg.EnvVar: Dagster shows and stores the variable's name, never its value."""

import dagster as dg

from ml_assets.spec import PipelineSpec


def secret_value(spec: PipelineSpec, field: str, value: str | None) -> str | dg.EnvVar | None:
    """The config value of a secret field: dg.EnvVar(VAR) when the config wrote it as ${VAR}, else the value."""
    return dg.EnvVar(spec.secret_env[field]) if field in spec.secret_env else value

