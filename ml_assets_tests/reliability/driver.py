"""Run one job of a pipeline over a partition range on its persistent instance (as the CLI opens it); exit 1 on failure.

Usage: python -m ml_assets_tests.reliability.driver CONFIG ingest|training|scoring|daily FIRST LAST [AS_OF]"""

import sys

from ml_assets.definitions import DAILY_JOB, INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.runner import persistent_instance
from ml_assets.spec import load_spec

JOB_NAMES = {"ingest": INGEST_JOB, "training": TRAINING_JOB, "scoring": SCORING_JOB, "daily": DAILY_JOB}


def main(config: str, job: str, first: str, last: str, as_of: str | None = None) -> int:
    """Execute the job in this process; the exit code says whether every step succeeded."""
    run_config = {"ops": {"training_set": {"config": {"as_of": as_of}}}} if as_of else {}
    spec = load_spec(config)
    with persistent_instance(spec) as instance:
        result = build_definitions(spec).resolve_job_def(JOB_NAMES[job]).execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config,
            tags={RANGE_START_TAG: first, RANGE_END_TAG: last})
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
