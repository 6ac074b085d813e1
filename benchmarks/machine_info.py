"""What the benchmarks record about the machine they ran on."""

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU model and the cores this process may use."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return f"{model}, {len(os.sched_getaffinity(0))} cores"
