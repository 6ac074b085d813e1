"""The Dask cluster distributed segment training runs on: a scheduler's address, or a LocalCluster per run.

dask and distributed are imported only when a segment is large enough to need them (their import is slow,
and every code-location load would otherwise pay it).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg

from ml_assets.spec import PipelineSpec

if TYPE_CHECKING:
    from distributed import Client

    from ml_assets.core.training.modeling import BoosterTrainer


class DaskCluster(dg.ConfigurableResource):
    """A Dask scheduler (`scheduler_address`), or a LocalCluster of `n_workers` started for the run when empty;
    segments of `min_rows` training rows or more train their booster on it."""

    scheduler_address: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1
    processes: bool = True
    min_rows: int | None = None

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> "DaskCluster":
        """The cluster of the spec's `dask` section, used for segments of training.distributed_min_rows rows."""
        dask = spec.dask
        return cls(scheduler_address=dask.scheduler_address or None, n_workers=dask.n_workers,
                   threads_per_worker=dask.threads_per_worker, processes=dask.processes,
                   min_rows=spec.training.distributed_min_rows)

    def distributes(self, rows: int) -> bool:
        """True when a training set of `rows` rows trains on the cluster: at or above `min_rows` (never unset)."""
        return self.min_rows is not None and rows >= self.min_rows

    @contextmanager
    def client(self) -> Iterator["Client"]:
        """A client of the configured scheduler, or of a LocalCluster that lives as long as the client."""
        from distributed import Client, LocalCluster

        if self.scheduler_address:
            with Client(self.scheduler_address) as client:
                yield client
            return
        with (LocalCluster(n_workers=self.n_workers, threads_per_worker=self.threads_per_worker,
                           processes=self.processes, dashboard_address=None) as cluster,
              Client(cluster) as client):
            yield client

    @contextmanager
    def trainer(self, spec: PipelineSpec, segment: str, rows: int,
                log: dg.DagsterLogManager) -> Iterator["BoosterTrainer | None"]:
        """None below `min_rows` (the booster trains in this process); else a trainer on the cluster, whose
        workers read the segment's feature partitions from the lake."""
        if not self.distributes(rows):
            yield None
            return
        from ml_assets.core.training.distributed import dask_trainer

        with self.client() as client:
            log.info(f"segment {segment!r}: {rows:,} training rows >= training.distributed_min_rows "
                     f"{self.min_rows:,}: training with xgboost.dask on {client.scheduler.address}")
            yield dask_trainer(client, spec.lake_dir, spec.training_sections(), segment)
