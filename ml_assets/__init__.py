"""ml_assets: per-segment risk models as a Dagster asset graph; `from ml_assets import Project` in Python."""

from typing import Any

__all__ = ["Project"]


def __getattr__(name: str) -> Any:
    """`Project` loads on first use, so the command line and the code location do not pay for its imports."""
    if name == "Project":
        from ml_assets.project import Project

        return Project
    raise AttributeError(f"module 'ml_assets' has no attribute {name!r}")
