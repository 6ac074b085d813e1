"""How long people wait for the CLI: `ml-assets --help`, `validate`, `models` and `scripts/ui` until it answers.

Each command runs --repeats times as a fresh subprocess, alternating with the baseline `python -c pass` of
the same interpreter; figures are medians of wall seconds (best in the summary) and, for the commands, of CPU
seconds (user + sys, what the command costs whatever the machine's load). The environment is compiled first: one warm-up
run of each command without PYTHONDONTWRITEBYTECODE writes the project's .pyc files (site-packages are compiled
by scripts/setup), so imports cost what they cost on a normal install.

    .venv/bin/python benchmarks/cli.py [--repeats 5] [--ui-repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def compiled_env(landing: Path) -> dict[str, str]:
    """The environment of every timed process: bytecode written and read, demo landing files in `landing`."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "ML_ASSETS_LANDING": str(landing)}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one subprocess run; it must succeed.

    On a shared machine the wall time grows with the load; the CPU time is what the command itself costs."""
    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ui_ready(env: dict[str, str], timeout_s: float = 300) -> float:
    """Seconds from starting scripts/ui until its webserver answers /server_info; the UI is stopped after."""
    port = free_port()
    began = time.perf_counter()
    server = subprocess.Popen([str(ROOT / "scripts" / "ui")], cwd=ROOT, env={**env, "PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while time.perf_counter() - began < timeout_s:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - began
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"scripts/ui did not answer on port {port} within {timeout_s} s")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def write_landing_day(folder: Path) -> None:
    """The first demo day's landing file, so `validate` checks real columns."""
    sys.path.insert(0, str(ROOT))
    from ml_assets.core.data.synthetic import generate_invoices, write_landing_files

    write_landing_files(generate_invoices(500, date(2024, 1, 1), date(2024, 1, 1), seed=0), folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ui-repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        write_landing_day(landing)
        env = compiled_env(landing)
        cli = str(BIN / "ml-assets")
        commands = {"baseline": [sys.executable, "-c", "pass"], "help": [cli, "--help"],
                    "validate": [cli, "validate", "--config", "pipeline.yaml"],
                    "models": [cli, "models", "--config", "pipeline.yaml"]}
        for command in commands.values():  # warm-up: writes .pyc files, creates the MLflow store once
            timed(command, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                wall, seconds = timed(command, env)
                times[name].append(wall)
                cpu[name].append(seconds)
        ui_ready(env)  # warm-up
        times["ui_ready"] = [ui_ready(env) for _ in range(args.ui_repeats)]
    load = os.getloadavg()[0]
    print(f"{'command':<10} {'median_s':>9} {'best_s':>8} {'cpu_s':>7}   ({args.repeats} runs each, "
          f"load average {load:.1f})")
    for name, values in times.items():
        cpu_text = f"{statistics.median(cpu[name]):>7.3f}" if name in cpu else f"{'-':>7}"
        print(f"{name:<10} {statistics.median(values):>9.3f} {min(values):>8.3f} {cpu_text}")
    figures = {f"{name}_s": round(statistics.median(values), 3) for name, values in times.items()}
    figures.update({f"{name}_cpu_s": round(statistics.median(values), 3) for name, values in cpu.items()})
    print(json.dumps({"benchmark": "cli", **figures, "repeats": args.repeats, "ui_repeats": args.ui_repeats,
                      "statistic": "median", "load_average": round(load, 1)}))


if __name__ == "__main__":
    main()
