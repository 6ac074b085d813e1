"""The loaded Definitions (asset keys, deps, partitions, checks, jobs, schedules, sensors) against a committed
snapshot, so a change to the graph is a reviewed diff, not an accident (as dagster-open-platform's test_defs).

Refresh after an intended change:
    ML_ASSETS_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest ml_assets_tests/test_definitions_snapshot.py -q
"""

import difflib
import json
import os
from pathlib import Path

import dagster as dg

from ml_assets.definitions import build_definitions
from ml_assets_tests.conftest import make_spec

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
REFRESH = "ML_ASSETS_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest ml_assets_tests/test_definitions_snapshot.py -q"


def partitions_text(partitions: dg.PartitionsDefinition | None) -> str | None:
    """A partitions definition as a stable line: its kind and what fixes its keys."""
    if partitions is None:
        return None
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return f"{type(partitions).__name__}(start={partitions.start:%Y-%m-%d}, cron={partitions.cron_schedule!r})"
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        return "Multi(" + ", ".join(f"{d.name}={partitions_text(d.partitions_def)}"
                                    for d in partitions.partitions_defs) + ")"
    if isinstance(partitions, dg.StaticPartitionsDefinition):
        return f"Static({partitions.get_partition_keys()})"
    return type(partitions).__name__


def dep_text(parent: dg.AssetKey, mapping: dg.PartitionMapping | None) -> str:
    """A dependency as a stable line: the upstream asset, and its partition mapping when one is declared (a
    trailing window reads other days than the identity would)."""
    return parent.to_user_string() if mapping is None else f"{parent.to_user_string()} via {mapping!r}"


def graph_snapshot(defs: dg.Definitions) -> dict:
    """What the graph declares, as plain sorted data."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(dep_text(parent, node.partition_mappings.get(parent)) for parent in node.parent_keys),
            "group": node.group_name,
            "partitions": partitions_text(node.partitions_def),
            "checks": sorted(f"{k.name}{' (blocking)' if graph.get(k).blocking else ''}" for k in node.check_keys),
        }
    jobs = {job.name: {"assets": sorted(k.to_user_string() for k in job.selection.resolve(graph)),
                       "partitions": partitions_text(job.partitions_def)}
            for job in defs.jobs or []}
    schedules = {s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone}
                 for s in defs.schedules or []}
    sensors = {s.name: {"type": type(s).__name__, "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
                        "minimum_interval_seconds": s.minimum_interval_seconds,
                        "default_status": s.default_status.value}
               for s in defs.sensors or []}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_definitions_match_the_committed_snapshot(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    current = json.dumps(graph_snapshot(build_definitions(make_spec(tmp_path))), indent=1, sort_keys=True) + "\n"
    if os.environ.get("ML_ASSETS_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(current)
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    diff = "".join(difflib.unified_diff(committed.splitlines(True), current.splitlines(True),
                                        "snapshots/definitions.json (committed)", "loaded definitions"))
    assert not diff, f"the asset graph changed; if intended, refresh the snapshot with\n  {REFRESH}\n{diff}"
