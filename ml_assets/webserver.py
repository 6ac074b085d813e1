"""The Dagster webserver for this project (scripts/ui, scripts/stack), with newest-first partition lists that end
where the partitions end.

Dagster 1.13.27's time-window partitions list their newest partitions from today, even when the definition ends
earlier (`dataset.end_date`): the asset page's Plots in Partitions mode asks for the newest 120 partitions and gets
only days that cannot exist, so it draws nothing for a data set of the past. Listed as of the definition's end
date, the same call returns the definition's own newest partitions. The correction is installed only while the
installed Dagster shows the fault (`lists_days_after_the_end`), so a fixed Dagster runs unchanged.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps

import dagster as dg
from dagster_webserver.cli import main as webserver_main

PROBE = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-03")


def lists_days_after_the_end(partitions: dg.TimeWindowPartitionsDefinition = PROBE) -> bool:
    """Whether the newest-first listing of a definition that ended in the past starts after its last partition."""
    with dg.partition_loading_context() as context:
        newest = partitions.get_paginated_partition_keys(context=context, limit=1, ascending=False).results
    return bool(newest) and newest[0] != partitions.get_last_partition_key()


def listed_as_of_the_end(listing: Callable) -> Callable:
    """`get_paginated_partition_keys` whose first newest-first page is listed as of the definition's end, when the
    end lies before the listing's effective time (later pages carry their own position in the cursor)."""

    @wraps(listing)
    def get_paginated_partition_keys(self, context, limit: int, ascending: bool, cursor: str | None = None):
        end = self.end_timestamp
        if not ascending and cursor is None and end is not None and end < context.effective_dt.timestamp():
            context = context.updated(effective_dt=datetime.fromtimestamp(end, tz=UTC),
                                      dynamic_partitions_store=context.dynamic_partitions_store)
        return listing(self, context=context, limit=limit, ascending=ascending, cursor=cursor)

    return get_paginated_partition_keys


def correct_newest_first_listing() -> bool:
    """Install `listed_as_of_the_end` when the installed Dagster lists days after the end; whether it did."""
    if not lists_days_after_the_end():
        return False
    definition = dg.TimeWindowPartitionsDefinition
    definition.get_paginated_partition_keys = listed_as_of_the_end(definition.get_paginated_partition_keys)
    return True


def main() -> None:
    """`dagster-webserver` with the same arguments, after the listing correction."""
    correct_newest_first_listing()
    webserver_main()


if __name__ == "__main__":
    main()
