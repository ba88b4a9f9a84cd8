"""Denoising many files on a ``dask.distributed`` cluster: one task per file.

* No client and no scheduler address: a :class:`~distributed.LocalCluster` is started for the run with
  ``workers`` single-threaded worker *processes* (torch holds the GIL in parts of its work, so
  processes, not threads, scale on a CPU), and closed afterwards. A scheduler address (``tcp://…``) or
  a :class:`~distributed.Client` uses an existing cluster instead (an HPC one from dask-jobqueue, a
  Kubernetes one, ``dask scheduler`` + ``dask worker``).
* The model is loaded once, here, and handed to every worker once by a worker plugin
  (:class:`ModelPlugin`), which builds the worker's :class:`~napari_lowdose.core.tiling.TiledDenoiser`;
  workers that join later get it too. The workers need the package, not the model file.
* Each task reads its own file, denoises it and writes ``<stem>_denoised.tif`` atomically itself, so
  only a small :class:`~.task.FileRecord` travels back, and a finished output stays on disk whatever
  happens to the rest of the run. A bad file is a record with ``ok=False``; a task whose worker dies
  (killed, out of memory) is retried on another worker up to ``retries`` times (the scheduler's
  ``allowed-failures``), then reported as failed; the other files go on.
* Results equal the serial run's: the same :func:`~.task.denoise_path` with the same model and options.

Dask is kept out of ``core/`` (numpy/scipy/torch only): running files on a cluster is orchestration
over the core, like the command line, not image processing.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Generator

from distributed import WorkerPlugin

from ..core.errors import LowdoseError
from .task import FileRecord, check_unique_stems, denoise_path

PLUGIN_NAME = "napari-lowdose-model"
DEFAULT_RETRIES = 2  #: times a file whose worker died is tried again elsewhere before it is reported


@dataclass(frozen=True)
class DenoiseOptions:
    """The :class:`~napari_lowdose.core.tiling.TiledDenoiser` settings a worker uses (tile and overlap in
    pixels; ``None``: chosen for the worker's device). ``threads``: torch threads per worker (None:
    leave the worker's setting; Dask's nanny starts workers with ``OMP_NUM_THREADS=1``)."""

    tile: int | None = None
    overlap: int | None = None
    device: str = "auto"
    flips: int = 1
    refine: str = "auto"
    threads: int | None = 1
    guard: str = "auto"  #: the guard after the network, as ``denoise --guard`` (auto, on, off)
    gain: float | None = None  #: ADU per electron for the guard (None: read or estimated from each image)
    offset: float | None = None  #: ADU

    def denoiser(self, model):
        from ..core.tiling import TiledDenoiser

        return TiledDenoiser(model, tile=self.tile, overlap=self.overlap, device=self.device, flips=self.flips, refine=self.refine)


class ModelPlugin(WorkerPlugin):
    """A Dask worker plugin that holds the worker's denoiser: the model is deserialised and the denoiser
    built once per worker, in ``setup``, not once per file."""

    def __init__(self, model, options: DenoiseOptions, name: str = PLUGIN_NAME) -> None:
        self.model, self.options, self.name = model, options, name
        self.denoiser = None

    def setup(self, worker) -> None:
        if self.options.threads:
            import torch

            torch.set_num_threads(self.options.threads)
        self.denoiser = self.options.denoiser(self.model)

    def teardown(self, worker) -> None:
        self.denoiser = None


def _task(path: str, outdir: str | None, plugin_name: str) -> FileRecord:
    """Runs on a worker: the worker's own denoiser (from its plugin) on one file."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None or plugin.denoiser is None:
        return FileRecord(path, ok=False, error=f"worker {worker.address} has no model (its plugin failed to start)", worker=worker.address, pid=os.getpid())
    o = plugin.options
    return denoise_path(path, outdir, plugin.denoiser, worker=worker.address, guard=o.guard, gain=o.gain, offset=o.offset)


@dataclass
class BatchProgress:
    """Yielded as each file finishes: ``done`` of ``total``, and that file's :class:`FileRecord`."""

    done: int
    total: int
    record: FileRecord
    dashboard: str = ""
    failed: list[str] = field(default_factory=list)


def _local_cluster(workers: int, memory_limit, retries: int):
    import dask
    from distributed import LocalCluster

    # saturation 1.0: a single-threaded worker holds one file at a time, so a worker that dies takes
    # only the file it was denoising with it (the scheduler's round trip between files is milliseconds)
    with dask.config.set({"distributed.scheduler.allowed-failures": retries, "distributed.scheduler.worker-saturation": 1.0}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                            dashboard_address=":0", silence_logs=logging.ERROR)


def _failure(path: str, exc: BaseException) -> FileRecord:
    from distributed import KilledWorker

    name = Path(path).name
    if isinstance(exc, KilledWorker):
        error = f"{name}: the worker denoising it died (killed, or out of memory) on every try"
    else:
        error = f"{name}: {type(exc).__name__}: {exc}".splitlines()[0]
    return FileRecord(path, ok=False, error=error, worker="?")


def iter_denoise_files(
    paths, outdir=None, model=None, client=None, workers: int | None = None, scheduler: str | None = None,
    options: DenoiseOptions | None = None, memory_limit="auto", retries: int = DEFAULT_RETRIES,
    on_start: Callable[[str], None] | None = None,
) -> Generator[BatchProgress, None, list[FileRecord]]:
    """Generator form of :func:`denoise_files`: yields a :class:`BatchProgress` as each file finishes
    (in the order they finish) and returns the records in the order of ``paths``. ``on_start`` is called
    with the dashboard address once the cluster is up (before any file is done)."""
    from ..core.model import Model, load_model

    paths = [Path(p) for p in paths]
    if not paths:
        raise LowdoseError("no input files given")
    check_unique_stems(paths)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise LowdoseError(f"{missing[0]}: no such file{f' (and {len(missing) - 1} more missing)' if len(missing) > 1 else ''}")
    if workers is not None and workers < 1:
        raise LowdoseError(f"workers must be at least 1, got {workers}")
    if client is not None and scheduler is not None:
        raise LowdoseError("give a client or a scheduler address, not both")
    if outdir is not None:
        Path(outdir).mkdir(parents=True, exist_ok=True)
    options = options or DenoiseOptions()
    model = model if isinstance(model, Model) else load_model(model)  # a bad model: one sentence, before any cluster starts
    # bad options (tile, overlap, flips, refine): one sentence here rather than on every worker; on the CPU,
    # so the model sent to the workers stays on the CPU (each worker moves it to its own device)
    replace(options, device="cpu").denoiser(model)
    if client is None and scheduler is None:  # the workers will be on this machine: its devices are theirs
        from ..core.tiling import pick_device

        pick_device(options.device)

    from distributed import Client, as_completed

    cluster = own_client = None
    try:
        if client is None:
            if scheduler is not None:
                try:
                    client = own_client = Client(scheduler, timeout="20s")
                except (OSError, TimeoutError) as exc:
                    raise LowdoseError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
            else:
                cluster = _local_cluster(workers or (os.cpu_count() or 1), memory_limit, retries)
                client = own_client = Client(cluster)
        dashboard = client.dashboard_link or ""
        if on_start is not None:
            on_start(dashboard)
        plugin_name = f"{PLUGIN_NAME}-{uuid.uuid4().hex[:8]}"
        client.register_plugin(ModelPlugin(model, options, plugin_name), name=plugin_name)
        out = None if outdir is None else str(Path(outdir).resolve())
        futures = {}
        for p in paths:
            key = f"napari-lowdose-denoise-{p.name}-{uuid.uuid4().hex[:8]}"
            futures[client.submit(_task, str(p.resolve()), out, plugin_name, key=key, pure=False, retries=0)] = str(p)
        records: dict[str, FileRecord] = {}
        failed: list[str] = []
        for done, future in enumerate(as_completed(futures), start=1):
            path = futures[future]
            try:
                record = future.result()
                record.path = path
            except Exception as exc:  # noqa: BLE001 - a task's failure is that file's, the run goes on
                record = _failure(path, exc)
            records[path] = record
            if not record.ok:
                failed.append(path)
            yield BatchProgress(done, len(paths), record, dashboard, list(failed))
        try:
            client.unregister_worker_plugin(plugin_name)
        except Exception:  # noqa: BLE001 - a shared cluster may have lost workers meanwhile
            pass
        return [records[str(p)] for p in paths]
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()


def denoise_files(paths, outdir=None, model=None, client=None, workers: int | None = None, scheduler: str | None = None,
                  options: DenoiseOptions | None = None, memory_limit="auto", retries: int = DEFAULT_RETRIES,
                  on_progress: Callable[[BatchProgress], None] | None = None, on_start: Callable[[str], None] | None = None,
                  **denoise_options) -> list[FileRecord]:
    """Denoise ``paths`` on a Dask cluster, one task per file, writing ``outdir/<stem>_denoised.tif``
    (``outdir`` None: beside each input). Returns one :class:`FileRecord` per path, in order; a file
    that failed has ``ok=False`` and its ``error``, and the others are done all the same.

    ``client``: a ``distributed.Client`` to use; ``scheduler``: the address of a running scheduler;
    neither: a LocalCluster with ``workers`` single-threaded processes (default: one per CPU core) is
    started and closed for this call. ``model``: None (the bundled HAADF model), ``"haadf"``/``"hrtem"``,
    a file, or a :class:`~napari_lowdose.core.model.Model`. Keyword options (``tile``, ``overlap``,
    ``device``, ``flips``, ``refine``, ``threads``) are those of :class:`DenoiseOptions`. ``on_progress``
    gets a :class:`BatchProgress` as each file finishes; ``on_start`` the dashboard address once the
    cluster is up.
    """
    from ..core.progress import drive

    if options is None:
        options = DenoiseOptions(**denoise_options)
    elif denoise_options:
        raise LowdoseError("give denoising options either as options=DenoiseOptions(...) or as keywords, not both")
    gen = iter_denoise_files(paths, outdir, model, client, workers, scheduler, options, memory_limit, retries, on_start)
    return drive(gen, on_progress)
