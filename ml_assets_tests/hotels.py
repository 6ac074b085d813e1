"""The real hotel bookings (../shared/data): where they are, and `ml-assets init` + `run` on them as the README's
"your own data" does it."""

import os
from pathlib import Path

import pytest

from ml_assets.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the clone (main/), or two levels up from a worktree (wt/<name>/), as benchmarks/ find it
HOTELS = next((folder / "shared" / "data" / "hotel_bookings.csv.gz" for folder in PROJECT_ROOT.parents[:2]
               if (folder / "shared" / "data" / "hotel_bookings.csv.gz").exists()),
              PROJECT_ROOT.parent / "shared" / "data" / "hotel_bookings.csv.gz")
LEAKS = ["reservation_status", "reservation_status_date"]


def require_hotels() -> None:
    """Skip without the hotel data, except under CI, where a missing file is a broken setup (CI clones main
    beside shared/)."""
    if not HOTELS.exists():
        message = f"{HOTELS} is not on this machine (the repository's ../shared/data)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def init_and_run_hotels(folder: Path, start: str, end: str) -> Path:
    """`ml-assets init` as the README's "your own data" does it, then `run` over start..end; the config path."""
    require_hotels()
    config = folder / "hotels.yaml"
    init = ["init", "--data", str(HOTELS), "--id", "booking_id", "--date", "arrival_date", "--target",
            "is_canceled", "--segment", "hotel", "--output", str(config)]
    assert main(init + [arg for column in LEAKS for arg in ("--exclude", column)]) == 0
    assert main(["run", "--config", str(config), "--start", start, "--end", end]) == 0
    return config
