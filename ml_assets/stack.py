"""The production stack on 127.0.0.1 under data/stack/: PostgreSQL, an MLflow server, a Dask cluster and the
Dagster daemon + webserver on a PostgreSQL instance with a queued run coordinator (`scripts/stack up|down|status`).

The pipeline reaches the services through the environment pipeline.yaml already reads (the overlay):
ML_ASSETS_HOME=data/stack (its instance folder data/stack/dagster holds the stack's dagster.yaml),
MLFLOW_TRACKING_URI and DASK_SCHEDULER_ADDRESS. `scripts/stack env` prints them for a shell.
The PostgreSQL password is the environment variable ML_ASSETS_PG_PASSWORD (made once and kept in
data/stack/pg_password, 0600, when unset); dagster.yaml names the variable, never the value.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml_assets.instance import EVENT_BATCH_ENV
from ml_assets.spec import ConfigError, ExecutionSpec, load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "ML_ASSETS_PG_PASSWORD"
PG_USER = "postgres"  # the OS user Debian's package creates; PostgreSQL refuses to run as root
DATABASES = ("dagster", "mlflow")
SCORING_TAG = "ml_assets/scores"  # tag of scoring_job and daily_job runs; the run coordinator limits them
START_TIMEOUT_S = 300  # a code location takes minutes to load on a busy 2-core machine


@dataclass(frozen=True)
class Ports:
    """The stack's ports on 127.0.0.1, each overridable by its environment variable."""

    postgres: int
    mlflow: int
    dask: int
    dask_dashboard: int
    dagster: int

    @classmethod
    def from_env(cls) -> Ports:
        """STACK_PG_PORT, STACK_MLFLOW_PORT, STACK_DASK_PORT, STACK_DASK_DASHBOARD_PORT, STACK_DAGSTER_PORT."""
        env = os.environ.get
        return cls(postgres=int(env("STACK_PG_PORT", "5433")), mlflow=int(env("STACK_MLFLOW_PORT", "5001")),
                   dask=int(env("STACK_DASK_PORT", "8786")), dask_dashboard=int(env("STACK_DASK_DASHBOARD_PORT", "8787")),
                   dagster=int(env("STACK_DAGSTER_PORT", "3001")))


@dataclass(frozen=True)
class Service:
    """One long-running process of the stack: its command, the port it answers on and the URL to show."""

    name: str
    command: list[str]
    port: int
    url: str


class StackError(RuntimeError):
    """A service that cannot be started; the message names it and its log."""


def stack_dir() -> Path:
    """data/stack/ of the project (STACK_DIR overrides it)."""
    return Path(os.environ.get("STACK_DIR", PROJECT_ROOT / "data" / "stack")).resolve()


def pipeline_env(ports: Ports, config: Path) -> dict[str, str]:
    """The overlay: the variables that point pipeline.yaml (and the Dagster processes) at the stack's services."""
    home = stack_dir()
    return {"ML_ASSETS_CONFIG": str(config.resolve()), "ML_ASSETS_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"), "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports.mlflow}",
            "DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{ports.dask}", **EVENT_BATCH_ENV}


def instance_yaml(ports: Ports, execution: ExecutionSpec, dagster_home: Path) -> str:
    """dagster.yaml of the stack: run/event/schedule storage on PostgreSQL, queued runs with concurrency limits."""
    return f"""\
# Dagster instance of the production stack (written by scripts/stack up from the config's `execution` section).
storage:
  custom:  # dagster-postgres's storage holding its connections (ml_assets/resources/instance_storage.py)
    module: ml_assets.resources.instance_storage
    class: PooledPostgresStorage
    config:
      postgres_db:
        username: {PG_USER}
        password: {{env: {PASSWORD_ENV}}}
        hostname: 127.0.0.1
        port: {ports.postgres}
        db_name: dagster
        scheme: postgresql+psycopg2  # SQLAlchemy 2.1 defaults to psycopg 3, which dagster-postgres's NOTIFY breaks on
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
concurrency:
  runs:
    tag_concurrency_limits:
      - key: {SCORING_TAG}
        value: "true"
        limit: {execution.max_concurrent}
  pools:
    default_limit: 1
local_artifact_storage:
  module: dagster._core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir: {dagster_home}
compute_logs:
  module: dagster._core.storage.local_compute_log_manager
  class: LocalComputeLogManager
  config:
    base_dir: {dagster_home / "storage"}
code_servers:
  local_startup_timeout: 900  # seconds a code server may take to load (Dagster's 180 s fail under load)
telemetry:
  enabled: false
"""


def install_postgresql() -> None:
    """apt-get install Debian's postgresql, as root; the package lists are refreshed first (fresh images have none)."""
    if os.geteuid() != 0:
        raise StackError("postgresql is not installed (no /usr/lib/postgresql/*/bin) and only root can install it: "
                         "run `sudo apt-get install -y postgresql`, then scripts/stack up again")
    print("stack: postgresql not installed; apt-get update, apt-get install postgresql", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"], check=True, env=env)


def pg_bin(tool: str) -> Path:
    """A PostgreSQL server binary (Debian's layout), installing the postgresql package when it is missing."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    if not found:
        install_postgresql()
        found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    if not found:
        raise StackError(f"{tool} not found under /usr/lib/postgresql after installing postgresql")
    return found[-1]


def as_pg_user(command: list[str]) -> list[str]:
    """The command run as the unprivileged PostgreSQL user when this process is root."""
    return ["runuser", "-u", PG_USER, "--", *command] if os.geteuid() == 0 else command


def password() -> str:
    """ML_ASSETS_PG_PASSWORD, or the one made for this stack at its first start (kept 0600 in data/stack)."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    kept = stack_dir() / "pg_password"
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.touch(mode=0o600)
        kept.write_text(secrets.token_urlsafe(24))
    return kept.read_text().strip()


def port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid_file: Path) -> int | None:
    """The pid in pid_file when that process is alive, else None (a stale file is removed)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, IndexError):
        return None
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return None


def wait_for_port(name: str, port: int, alive: Callable[[], bool], log: Path) -> None:
    """Wait until the service answers on its port; a dead process or a timeout raise with the log's tail."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_open(port):
        if not alive() or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
            raise StackError(f"{name} did not start on 127.0.0.1:{port}; see {log}:\n{tail}")
        time.sleep(0.5)


def postgres_options(ports: Ports, socket_dir: Path) -> str:
    """The server options pg_ctl passes: the stack's port, TCP on 127.0.0.1 only, the socket in the stack folder."""
    return f"-p {ports.postgres} -c listen_addresses=127.0.0.1 -k {socket_dir}"


def start_postgres(ports: Ports, env: dict[str, str]) -> None:
    """initdb (first start) and pg_ctl start the server on 127.0.0.1, then create the databases when missing."""
    root = stack_dir()
    data, logs, run = root / "postgres", root / "logs", root / "postgres-run"
    pid_file = root / "postgres.pid"
    if pid_alive(pid_file):
        return
    for folder in (data, run):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, PG_USER, PG_USER) if os.geteuid() == 0 else None
    data.chmod(0o700)
    if not (data / "PG_VERSION").exists():
        pwfile = run / "pwfile"
        pwfile.write_text(env[PASSWORD_ENV])
        shutil.chown(pwfile, PG_USER) if os.geteuid() == 0 else None
        try:
            subprocess.run(as_pg_user([str(pg_bin("initdb")), "-D", str(data), "-U", PG_USER, "--auth=scram-sha-256",
                                       f"--pwfile={pwfile}", "-E", "UTF8"]),
                           check=True, stdout=(logs / "initdb.log").open("w"), stderr=subprocess.STDOUT)
        finally:
            pwfile.unlink(missing_ok=True)
    log = logs / "postgres.log"
    log.touch()
    shutil.chown(log, PG_USER) if os.geteuid() == 0 else None
    options = postgres_options(ports, run)
    subprocess.run(as_pg_user([str(pg_bin("pg_ctl")), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    pid_file.write_text((data / "postmaster.pid").read_text().split()[0])
    wait_for_port("postgres", ports.postgres, lambda: pid_alive(pid_file) is not None, log)
    for database in DATABASES:
        exists = psql(ports, env, f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
        if not exists.strip():
            psql(ports, env, f"CREATE DATABASE {database}")


def psql(ports: Ports, env: dict[str, str], sql: str, database: str = "postgres") -> str:
    """One SQL statement through psql over TCP (the password from the environment); its unaligned output."""
    result = subprocess.run([str(pg_bin("psql")), "-h", "127.0.0.1", "-p", str(ports.postgres), "-U", PG_USER,
                             "-d", database, "-Atc", sql], env={**env, "PGPASSWORD": env[PASSWORD_ENV]},
                            capture_output=True, text=True)
    if result.returncode:
        raise StackError(f"psql {sql!r} failed: {result.stderr.strip()}")
    return result.stdout


def services(ports: Ports) -> list[Service]:
    """The processes `up` starts after PostgreSQL, in start order."""
    bin_dir, root = Path(sys.executable).parent, stack_dir()
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    mlflow = [str(bin_dir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(ports.mlflow), "--workers", "1",
              "--backend-store-uri", f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{ports.postgres}/mlflow",
              "--serve-artifacts", "--artifacts-destination", str(root / "mlflow-artifacts")]
    scheduler = [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(ports.dask),
                 "--dashboard-address", f"127.0.0.1:{ports.dask_dashboard}"]
    worker = [str(bin_dir / "dask"), "worker", f"tcp://127.0.0.1:{ports.dask}", "--host", "127.0.0.1",
              "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--memory-limit", "2GB"]
    return [
        Service("mlflow", mlflow, ports.mlflow, f"http://127.0.0.1:{ports.mlflow}"),
        Service("dask-scheduler", scheduler, ports.dask, f"tcp://127.0.0.1:{ports.dask} (dashboard "
                                                         f"http://127.0.0.1:{ports.dask_dashboard})"),
        Service("dask-worker-1", [*worker, "--name", "worker-1"], 0, f"worker of tcp://127.0.0.1:{ports.dask}"),
        Service("dask-worker-2", [*worker, "--name", "worker-2"], 0, f"worker of tcp://127.0.0.1:{ports.dask}"),
        Service("dagster-daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], 0,
                f"daemon of the instance {root / 'dagster'}"),
        Service("dagster-webserver", [str(bin_dir / "python"), "-m", "ml_assets.webserver", "-w", workspace, "-h",
                                      "127.0.0.1", "-p", str(ports.dagster)], ports.dagster,
                f"http://127.0.0.1:{ports.dagster}"),
    ]


def start(service: Service, env: dict[str, str]) -> None:
    """Start the service in its own session (log under logs/, pid file), unless its pid file names a live process."""
    root = stack_dir()
    pid_file, log = root / f"{service.name}.pid", root / "logs" / f"{service.name}.log"
    if pid_alive(pid_file):
        return
    if service.port and port_open(service.port):
        raise StackError(f"{service.name}: port {service.port} on 127.0.0.1 is taken by another process; free it or "
                         f"set its STACK_*_PORT variable")
    with log.open("w") as output:
        process = subprocess.Popen(service.command, cwd=PROJECT_ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(process.pid))
    if service.port:
        wait_for_port(service.name, service.port, lambda: process.poll() is None, log)


def up(config: Path) -> None:
    """Start every service not already running (idempotent) and write the stack's dagster.yaml."""
    ports, root = Ports.from_env(), stack_dir()
    spec = load_spec(config)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "dagster").mkdir(exist_ok=True)
    env = {**os.environ, **pipeline_env(ports, config), PASSWORD_ENV: password(),
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    (root / "dagster" / "dagster.yaml").write_text(instance_yaml(ports, spec.execution, root / "dagster"))
    start_postgres(ports, env)
    for service in services(ports):
        start(service, {**env, "PGPASSWORD": env[PASSWORD_ENV]} if service.name == "mlflow" else env)
    wait_for_webserver(ports.dagster, root / "dagster-webserver.pid", root / "logs" / "dagster-webserver.log")
    status()


def wait_for_webserver(port: int, pid_file: Path, log: Path) -> None:
    """Wait until the webserver has loaded the code location (/server_info answers)."""
    import urllib.request

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if pid_alive(pid_file) is None or time.monotonic() > deadline:
            raise StackError(f"dagster-webserver does not answer on http://127.0.0.1:{port}; see {log}")
        time.sleep(1)


def stop(names: list[str]) -> None:
    """SIGTERM the process groups of the services' pid files at once (each takes 2-3 s to exit, so one after the
    other took 15-25 s), SIGKILL those still alive after 20 s; remove the pid files."""
    pid_files = [stack_dir() / f"{name}.pid" for name in names]
    running = {pid_file: pid for pid_file in pid_files if (pid := pid_alive(pid_file)) is not None}
    for pid in running.values():
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while any(pid_alive(pid_file) for pid_file in running) and time.monotonic() < deadline:
        time.sleep(0.3)
    for pid_file, pid in running.items():
        if pid_alive(pid_file) is not None:
            os.killpg(pid, signal.SIGKILL)
    for pid_file in pid_files:
        pid_file.unlink(missing_ok=True)


def down() -> None:
    """Stop what `up` started, by pid files: every service at once, then PostgreSQL (pg_ctl), which they use."""
    ports = Ports.from_env()
    stop([service.name for service in services(ports)])
    root = stack_dir()
    if pid_alive(root / "postgres.pid"):
        subprocess.run(as_pg_user([str(pg_bin("pg_ctl")), "-D", str(root / "postgres"), "-m", "fast", "-w", "stop"]),
                       check=False, stdout=subprocess.DEVNULL)
    (root / "postgres.pid").unlink(missing_ok=True)
    print("stack: stopped")


def status() -> int:
    """One line per service: running (pid) or stopped, and where; 0 when all run, 3 otherwise."""
    ports, root = Ports.from_env(), stack_dir()
    rows = [("postgres", f"postgresql://{PG_USER}@127.0.0.1:{ports.postgres} (databases {', '.join(DATABASES)})")]
    rows += [(service.name, service.url) for service in services(ports)]
    running = 0
    for name, where in rows:
        pid = pid_alive(root / f"{name}.pid")
        running += pid is not None
        print(f"{name:<18} {'running pid ' + str(pid) if pid else 'stopped':<18} {where}")
    print(f"instance: {root / 'dagster' / 'dagster.yaml'}; logs: {root / 'logs'}")
    return 0 if running == len(rows) else 3


def env_lines(config: Path) -> str:
    """`export` lines of the overlay, for `eval "$(scripts/stack env)"` before ml-assets commands."""
    values = {**pipeline_env(Ports.from_env(), config), PASSWORD_ENV: password()}
    return "\n".join(f"export {name}={value!r}" for name, value in values.items())


def main(argv: list[str]) -> int:
    """`python -m ml_assets.stack up|down|status|env [--config FILE]`."""
    usage = "usage: scripts/stack up|down|status|env [--config FILE]"
    if not argv or argv[0] not in {"up", "down", "status", "env"}:
        print(usage, file=sys.stderr)
        return 2
    config = Path(argv[argv.index("--config") + 1]) if "--config" in argv else PROJECT_ROOT / "pipeline.yaml"
    try:
        if argv[0] == "up":
            up(config)
        elif argv[0] == "down":
            down()
        elif argv[0] == "env":
            print(env_lines(config))
        else:
            return status()
    except (StackError, ConfigError, subprocess.CalledProcessError) as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
