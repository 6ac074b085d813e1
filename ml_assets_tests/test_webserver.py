"""The webserver's newest-first partition listing, on the installed Dagster's own partitions definitions."""

import json
import subprocess
import sys

import dagster as dg
import pytest

from ml_assets.webserver import PROBE, listed_as_of_the_end, lists_days_after_the_end

PAST = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-06-01")  # last partition 2024-05-31


def newest_pages(partitions: dg.TimeWindowPartitionsDefinition, limit: int, pages: int) -> list[list[str]]:
    """The first `pages` newest-first pages of `limit` keys, each page from the previous page's cursor."""
    listed, cursor = [], None
    with dg.partition_loading_context() as context:
        for _ in range(pages):
            page = partitions.get_paginated_partition_keys(context=context, limit=limit, ascending=False, cursor=cursor)
            listed.append(page.results)
            cursor = page.cursor
    return listed


@pytest.fixture
def corrected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing correction installed for one test (undone after it)."""
    definition = dg.TimeWindowPartitionsDefinition
    monkeypatch.setattr(definition, "get_paginated_partition_keys",
                        listed_as_of_the_end(definition.get_paginated_partition_keys))


def test_the_installed_dagster_lists_days_after_a_past_end() -> None:
    assert lists_days_after_the_end(), "Dagster now lists newest partitions from the end: ml_assets/webserver.py's " \
                                       "correction is no longer installed and can go"
    assert newest_pages(PAST, 3, 1)[0][0] > "2024-05-31"


def test_corrected_newest_first_pages_start_at_the_last_partition_and_continue(corrected: None) -> None:
    assert newest_pages(PAST, 3, 3) == [["2024-05-31", "2024-05-30", "2024-05-29"],
                                        ["2024-05-28", "2024-05-27", "2024-05-26"],
                                        ["2024-05-25", "2024-05-24", "2024-05-23"]]
    assert not lists_days_after_the_end(PROBE)


def test_corrected_listing_keeps_oldest_first_and_open_ended_definitions(corrected: None) -> None:
    with dg.partition_loading_context() as context:
        oldest = PAST.get_paginated_partition_keys(context=context, limit=2, ascending=True).results
    assert oldest == ["2024-01-01", "2024-01-02"]
    open_ended = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    assert newest_pages(open_ended, 1, 1)[0] == [open_ended.get_last_partition_key()]


def test_the_webserver_module_installs_the_correction_only_where_needed() -> None:
    probe = ("import json; from ml_assets.webserver import correct_newest_first_listing, lists_days_after_the_end; "
             "print(json.dumps([correct_newest_first_listing(), lists_days_after_the_end(), "
             "correct_newest_first_listing()]))")
    installed, still_faulty, installed_again = json.loads(
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout)
    assert (installed, still_faulty, installed_again) == (True, False, False)
