"""scripts/ui on a config whose instance does not exist yet: the daemon and the webserver come up on one new
instance, the code location loads, partitions are listed up to the config's end date, and stopping it stops both."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests
import yaml

from ml_assets_tests.conftest import PROJECT_ROOT, demo_config
from ml_assets_tests.ports import free_port

LOCATION_QUERY = {"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
                           "locationOrLoadError { __typename ... on PythonError { message } } } } } }"}
NEWEST_QUERY = {"query": '{ assetNodeOrError(assetKey: {path: ["predictions"]}) { ... on AssetNode { '
                         "partitionKeyConnection(limit: 2, ascending: false) { results } } } }"}


def loaded_location(url: str, process: subprocess.Popen, timeout: float = 240) -> dict:
    """The code location entry once it has finished loading (loaded or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "scripts/ui exited"
        try:
            entries = requests.post(f"{url}/graphql", json=LOCATION_QUERY, timeout=5).json()["data"][
                "workspaceOrError"]["locationEntries"]
            if entries and entries[0]["loadStatus"] == "LOADED":
                return entries[0]
        except (requests.ConnectionError, requests.Timeout, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError(f"scripts/ui did not load the code location in {timeout} s")


def processes_of(config_home: Path) -> list[str]:
    """Command lines of running processes whose DAGSTER_HOME is this config's instance."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"DAGSTER_HOME={config_home}".encode() in environ.read_bytes().split(b"\0"):
                found.append((environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_scripts_ui_serves_a_new_instance_and_stops_with_its_daemon(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(demo_config(tmp_path, dataset={"end_date": "2024-03-31"}), sort_keys=False))
    port, instance = free_port(), tmp_path / "out" / "dagster"
    process = subprocess.Popen([str(PROJECT_ROOT / "scripts" / "ui"), "--config", str(config)], cwd=PROJECT_ROOT,
                               env={**os.environ, "PORT": str(port)}, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        entry = loaded_location(url, process)
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        assert any("dagster-daemon" in command for command in processes_of(instance))
        newest = requests.post(f"{url}/graphql", json=NEWEST_QUERY, timeout=30).json()["data"]["assetNodeOrError"]
        assert newest["partitionKeyConnection"]["results"] == ["2024-03-31", "2024-03-30"]
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        process.wait(timeout=120)
    deadline = time.monotonic() + 60
    while processes_of(instance) and time.monotonic() < deadline:
        time.sleep(1)
    assert not processes_of(instance), "scripts/ui left processes of its instance running"
