"""`ml-assets models`, `promote` and `rollback`: each segment's registered versions, and moving the champion by hand."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # MLflow, Dagster and pydantic load only when a command runs, keeping `--help` quick
    from mlflow.entities.model_registry import ModelVersion

    from ml_assets.resources.registry import ModelRegistry
    from ml_assets.spec import PipelineSpec

REGISTRY_COMMANDS = ("models", "promote", "rollback")
LISTED_TAGS = {"holdout_roc_auc": "auc", "baseline_roc_auc": "baseline_auc", "holdout_ece": "ece",
               "holdout_raw_ece": "ece_raw", "calibration": "calibration", "gate_p_value": "gate_p"}


def add_registry_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register the sub-commands through cli.py's `command` helper (which adds --config)."""
    models = command("models", "list every registered version per segment: metrics, aliases, window, Dagster run")
    models.add_argument("--segment", help="only this segment")
    models.add_argument("--json", action="store_true", help="print every version as a JSON object (one list)")
    promote = command("promote", "make a version the champion of its segment by hand")
    promote.add_argument("--segment", required=True)
    promote.add_argument("--version", required=True)
    promote.add_argument("--reason", required=True, help="why; recorded as a tag on the version and in the history")
    rollback = command("rollback", "move the champion back to the version that held it before")
    rollback.add_argument("--segment", required=True)
    rollback.add_argument("--reason", required=True, help="why; recorded as a tag on the version and in the history")


def run_registry_command(spec: PipelineSpec, args: argparse.Namespace) -> None:
    """Run models, promote or rollback against the pipeline's MLflow registry."""
    from ml_assets.resources.champion_log import ChampionLog
    from ml_assets.resources.registry import CHAMPION, ModelRegistry

    registry = ModelRegistry(tracking_uri=spec.tracking_uri)
    if args.command == "models":
        segments = [checked_segment(spec, args.segment)] if args.segment else spec.segment_names
        print(json.dumps(models_json(spec, registry, segments), indent=2) if args.json
              else models_report(spec, registry, segments))
    elif args.command == "promote":
        name = spec.registered_model_name(checked_segment(spec, args.segment))
        ChampionLog(registry).promote(name, args.version, args.reason)
        print(f"{name}@{CHAMPION} -> v{args.version} (reason: {args.reason})")
    elif args.command == "rollback":
        name = spec.registered_model_name(checked_segment(spec, args.segment))
        version = ChampionLog(registry).rollback(name, args.reason)
        print(f"{name}@{CHAMPION} rolled back to v{version} (reason: {args.reason})")


def checked_segment(spec: PipelineSpec, segment: str) -> str:
    """The segment when the config has it, else an error naming the closest one."""
    from ml_assets.spec import suggest_name

    if segment not in spec.segment_names:
        raise ValueError(f"--segment: {segment!r} is not a segment of {spec.name}"
                         f"{suggest_name(segment, spec.segment_names)}")
    return segment


def version_row(version: ModelVersion, aliases: list[str]) -> dict[str, str]:
    """One listed line: version, aliases, creation time, key metrics, training window, Dagster run, last move."""
    tags = version.tags
    created = datetime.fromtimestamp(version.creation_timestamp / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
    move = f"{tags['champion_move']}: {tags['champion_reason']}" if "champion_move" in tags else ""
    return {"version": str(version.version), "aliases": ", ".join(sorted(aliases)) or "-", "created": created,
            **{label: tags.get(tag, "-") for tag, label in LISTED_TAGS.items()},
            "window": f"{tags['window_first']}..{tags['window_last']}" if "window_first" in tags else "-",
            "dagster_run": tags.get("dagster_run_id", "-"), "champion_move": move}


def tag_float(tags: dict[str, str], key: str) -> float | None:
    """A numeric version tag, None when the version does not carry it."""
    return float(tags[key]) if key in tags else None


def version_object(segment: str, version: ModelVersion, aliases: list[str]) -> dict[str, Any]:
    """One version for `models --json` (segment, version, aliases, holdout_auc, holdout_ece, holdout_ece_raw,
    calibration and leakage_suspects are a public contract; None where a version predates a tag)."""
    tags = version.tags
    return {"segment": segment, "model_name": version.name, "version": str(version.version), "aliases": sorted(aliases),
            "created": datetime.fromtimestamp(version.creation_timestamp / 1000, tz=timezone.utc).isoformat(),
            "holdout_auc": tag_float(tags, "holdout_roc_auc"), "holdout_ece": tag_float(tags, "holdout_ece"),
            "holdout_ece_raw": tag_float(tags, "holdout_raw_ece"),
            "holdout_log_loss": tag_float(tags, "holdout_log_loss"),
            "holdout_log_loss_raw": tag_float(tags, "holdout_raw_log_loss"),
            "calibration": tags.get("calibration"), "calibration_reason": tags.get("calibration_reason"),
            "leakage_suspects": json.loads(tags["leakage_suspects"]) if "leakage_suspects" in tags else None,
            "baseline_auc": tag_float(tags, "baseline_roc_auc"),
            "gate_promoted": tags["gate_promoted"] == "True" if "gate_promoted" in tags else None,
            "gate_p_value": tag_float(tags, "gate_p_value"), "gate_margin": tag_float(tags, "gate_margin"),
            "gate_reason": tags.get("gate_reason"),
            "window_first": tags.get("window_first"), "window_last": tags.get("window_last"),
            "data_hash": tags.get("data_hash"), "config_hash": tags.get("config_hash"),
            "dagster_run_id": tags.get("dagster_run_id"), "mlflow_run_id": version.run_id,
            "champion_move": tags.get("champion_move"),
            "champion_reason": tags.get("champion_reason")}


def models_json(spec: PipelineSpec, registry: ModelRegistry, segments: list[str]) -> list[dict[str, Any]]:
    """Every registered version of the segments, oldest first, as `version_object`s."""
    objects = []
    for segment in segments:
        name = spec.registered_model_name(segment)
        versions = registry.versions(name)
        aliases = registry.aliases(name) if versions else {}
        objects += [version_object(segment, v, aliases.get(str(v.version), [])) for v in versions]
    return objects


def models_report(spec: PipelineSpec, registry: ModelRegistry, segments: list[str]) -> str:
    """Per segment, a table of every registered version, newest first."""
    import pandas as pd

    from ml_assets.core.data.sources import redact_url

    parts = []
    for segment in segments:
        name = spec.registered_model_name(segment)
        versions = registry.versions(name)
        if not versions:
            parts.append(f"{name}: no versions yet (train with `ml-assets run`)")
            continue
        aliases = registry.aliases(name)
        rows = [version_row(v, aliases.get(str(v.version), [])) for v in reversed(versions)]
        table = pd.DataFrame(rows).to_markdown(index=False)
        parts.append(f"{name} (segment {segment}, {redact_url(spec.tracking_uri)})\n{table}")
    return "\n\n".join(parts)
