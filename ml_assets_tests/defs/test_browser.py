"""What a person sees: the Dagster webserver serving a small materialized instance, driven in Debian's chromium.

Needs /usr/bin/chromium (scripts/browser-setup installs it); skip with `-m "not browser"`. Screenshots go to
data/screenshots/ (git-ignored)."""

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from ml_assets.core.data import lake
from ml_assets.definitions import CONFIG_ENV, GROUP_OWNERS, INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets_tests.conftest import PROJECT_ROOT
from ml_assets_tests.defs.conftest import UI_END, UiInstance
from ml_assets_tests.ports import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = PROJECT_ROOT / "data" / "screenshots"
BAD_DAY = "2024-05-01"
LOCATION = "ml_assets"
ASSETS = ["raw_data", "features", "training_set", "segment_model", "model_evaluation", "predictions",
          "risk_clusters", "risk_report", "drift_report", "model_performance"]


@dataclass(frozen=True)
class Served:
    """A running webserver over the UI instance."""

    url: str
    ui: UiInstance
    bad_day_value: float



def plant_bad_day(ui: UiInstance) -> float:
    """A landing file for BAD_DAY whose first amount is negative (dataset.rules: amount min 0), ingested so
    raw_data's blocking `schema` check fails; returns the planted value."""
    landing = Path(ui.spec.source_location()).parent
    day = pd.read_csv(landing / f"invoices_{UI_END.isoformat()}.csv")
    day[ui.spec.dataset.date] = BAD_DAY
    day.loc[0, "amount"] = -123.45
    day.to_csv(landing / f"invoices_{BAD_DAY}.csv", index=False)
    result = build_definitions(ui.spec).resolve_job_def(INGEST_JOB).execute_in_process(
        instance=ui.instance, partition_key=BAD_DAY, raise_on_error=False)
    assert not result.success
    return -123.45


def wait_until_served(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    """Block until the webserver answers and its code location has loaded."""
    deadline = time.monotonic() + timeout
    query = {"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                      "locationOrLoadError { __typename } } } } }"}
    while time.monotonic() < deadline:
        assert process.poll() is None, "the webserver exited"
        try:
            entries = requests.post(f"{url}/graphql", json=query, timeout=5).json()["data"]["workspaceOrError"][
                "locationEntries"]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
                return
        except (requests.ConnectionError, requests.Timeout, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError(f"the webserver at {url} did not load the code location in {timeout} s")


@pytest.fixture(scope="module")
def served(ui_instance: UiInstance) -> Iterator[Served]:
    """The project's Dagster webserver (scripts/ui's) on a free 127.0.0.1 port over the UI instance (after one bad
    day was ingested)."""
    bad_value = plant_bad_day(ui_instance)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(ui_instance.dagster_home), CONFIG_ENV: str(ui_instance.config)}
    process = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "ml_assets.webserver", "-w", str(ui_instance.workspace),
         "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_served(url, process)
        requests.post(f"{url}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30)  # no welcome dialog
        yield Served(url, ui_instance, bad_value)
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def page(served: Served):
    """A chromium page (the system binary, never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser-setup (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(90_000)
        yield page
        browser.close()


def shoot(page, name: str) -> Path:
    """Save what the page shows now as data/screenshots/<name>.png."""
    path = SCREENSHOTS / f"{name}.png"
    dismiss_dialog(page)
    page.screenshot(path=str(path), full_page=False)
    return path


def open_page(page, url: str) -> None:
    """Go to `url` and dismiss the community dialog a fresh browser profile gets."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    dismiss_dialog(page)


def dismiss_dialog(page) -> None:
    """Close the community dialog should it still open (the fixture marks it seen through GraphQL)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_role("button", name="Skip").click(timeout=2_000)
    except PlaywrightTimeout:
        pass


def test_the_lineage_lists_every_asset(served: Served, page) -> None:
    open_page(page, f"{served.url}/asset-groups")
    for group in sorted(GROUP_OWNERS):  # expand each group of the lineage's sidebar
        button = page.get_by_role("button", name=group).first
        box = button.bounding_box()
        page.mouse.click(box["x"] - 10, box["y"] + box["height"] / 2)
    for asset in ASSETS:
        page.get_by_text(asset, exact=True).first.wait_for()
    shoot(page, "lineage")


def test_model_evaluation_shows_its_figures_and_a_plot(served: Served, page) -> None:
    segment = served.ui.spec.segment_names[0]
    open_page(page, f"{served.url}/assets/model_evaluation?view=partitions&partition={segment}")
    page.get_by_text("roc_auc", exact=True).first.wait_for()
    page.get_by_text("lift_by_decile", exact=True).first.wait_for()
    shoot(page, "model_evaluation")
    plots = page.locator("tr", has=page.get_by_text("plots", exact=True)).first
    plots.get_by_text("[Show Markdown]").click()
    page.locator('img[alt="ROC"]').first.wait_for()  # the segment's own ROC curve, inline
    shoot(page, "model_evaluation_plot")


def test_a_failed_check_shows_its_failure_sample(served: Served, page) -> None:
    open_page(page, f"{served.url}/assets/raw_data?view=checks")
    page.get_by_text("schema", exact=True).first.click()
    page.get_by_text("Execution history", exact=True).click()
    failed = page.locator("tr", has=page.get_by_text("Failed", exact=True)).first
    failed.get_by_role("button").last.click()  # the evaluation's metadata
    page.get_by_text("failure_count").first.wait_for()
    page.get_by_text("[Show Markdown]").first.click()  # the failing rows
    page.get_by_text(str(served.bad_day_value)).first.wait_for()
    shoot(page, "failed_check")


def test_each_job_page_lists_the_runs_the_cli_launched(served: Served, page) -> None:
    # the fixture ran the graph with run_pipeline, the CLI's own launcher: runs of the ml_assets code location
    runs = {run.job_name: run.run_id for run in served.ui.instance.get_runs() if run.remote_job_origin}
    assert {INGEST_JOB, TRAINING_JOB, SCORING_JOB} <= set(runs)
    for job in (INGEST_JOB, TRAINING_JOB, SCORING_JOB):
        open_page(page, f"{served.url}/locations/{LOCATION}/jobs/{job}/runs")
        page.get_by_text(runs[job][:8]).first.wait_for()
        shoot(page, f"{job}_runs")


def test_two_partitions_show_different_row_counts(served: Served, page) -> None:
    spec, shown = served.ui.spec, {}
    for day in ("2024-01-05", "2024-04-29"):
        rows = len(lake.read_partition(lake.partition_dir(spec.lake_dir, "predictions", "date", day)))
        open_page(page, f"{served.url}/assets/predictions?view=partitions&partition={day}")
        page.get_by_text("dagster/row_count").first.wait_for()
        row = page.locator("tr", has=page.get_by_text("dagster/row_count", exact=True)).first
        shown[day] = int(row.inner_text().split()[-1].replace(",", ""))
        assert shown[day] == rows
        shoot(page, f"predictions_{day}")
    assert shown["2024-01-05"] != shown["2024-04-29"]


PLOTS_EMPTY = "Asset plots are automatically generated by metadata"  # the Plots view's text when it has nothing to draw


def test_plots_over_partitions_draw_the_daily_figures(served: Served, page) -> None:
    open_page(page, f"{served.url}/assets/predictions")
    page.get_by_role("button", name="Plots").click()
    page.get_by_role("button", name="partition Partitions").click()
    page.wait_for_load_state("networkidle")
    for figure in ("dagster/row_count", "mean_score"):
        page.get_by_text(figure, exact=True).first.wait_for()
    assert page.locator("canvas").count() >= 2
    assert page.get_by_text(PLOTS_EMPTY).count() == 0
    page.get_by_text("mean_score", exact=True).first.scroll_into_view_if_needed()
    shoot(page, "predictions_plots_by_partition")
