"""Where independent pieces of work run: in this process, in order, or as tasks on a Ray cluster.

An executor offers two calls, the same for both kinds, so library code is written once:

- ``put(obj)``: a handle to ``obj`` that tasks can take as an argument. Locally it is ``obj`` itself;
  on Ray it is an object reference: the object is serialised into the cluster's object store once and
  every task that takes the handle reads that copy (NumPy arrays zero-copy on the same machine).
- ``map(fn, items, *shared)``: ``[fn(item, *shared) for item in items]``, in submission order. ``fn``
  must be a module-level function (Ray pickles it by name). Each ``item`` is sent to its own task;
  ``shared`` arguments go to every task, so pass big ones through ``put`` (``map`` puts any that are
  not handles yet, once per call, never once per task).

:class:`LocalExecutor` runs the tasks in this process one after another, as nidslab always has.
:class:`ProcessExecutor` runs them in worker processes on this machine (joblib's loky backend, which
scikit-learn already brings): the study's small networks use a second core poorly from one process (a
2 x 20 epoch: 0.28 s on 2 threads against 0.31 s on 1), so on 2 cores two one-thread tasks side by side
train about 1.8x as many networks per second. Big NumPy arguments reach the workers memory-mapped from
one file per call, not pickled per task.
:class:`RayExecutor` submits them as Ray tasks (``max_retries``: a task whose worker process or node
dies is run again elsewhere; its result is the same because every task seeds itself from its own
arguments). Ray is imported only inside :class:`RayExecutor`: it is an optional extra
(``pip install -e '.[cluster]'``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

from nidslab.errors import ConfigError
from nidslab.progress import Progress

INSTALL_HINT = "pip install -e '.[cluster]' (from a checkout) or pip install 'ray>=2.9'"
#: the port ``ray start --head`` listens on when ``--port`` is not given
DEFAULT_RAY_PORT = 6379


class _OnThisMachine:
    """What the executors of this machine share: their description, and nothing to release."""

    kind: str
    threads: int | None

    @property
    def workers(self) -> int:
        """How many tasks run at once."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Plain-data description for results.json (kind, workers, threads)."""
        return {"kind": self.kind, "workers": self.workers, "threads": self.threads}

    def close(self) -> None:
        """Nothing to release (joblib keeps a process pool's workers for the next call, ends them at exit)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(_OnThisMachine):
    """Runs every task in this process, in order.

    ``threads``: torch's thread count inside each task (None: leave it as it is). Results are
    bit-equal to a :class:`RayExecutor`'s when both run tasks on the same number of threads.
    """

    kind = "local"
    remote = False

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    @property
    def workers(self) -> int:
        """How many tasks run at once (1)."""
        return 1

    def put(self, obj: Any) -> Any:
        """``obj`` itself: tasks in this process share it by reference."""
        return obj

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any,
            progress: Progress | None = None) -> list[Any]:
        """``[fn(item, *shared) for item in items]``; ``progress(done, total, "done/total tasks")`` after each task."""
        items = list(items)
        out = []
        for i, item in enumerate(items):
            out.append(fn(item, *shared))
            if progress is not None:
                progress(i + 1, len(items), f"{i + 1}/{len(items)} tasks")
        return out


class ProcessExecutor(_OnThisMachine):
    """Runs tasks in ``workers`` processes of this machine, ``threads`` torch threads each (default 1).

    Worker processes start on the first ``map`` (an import of nidslab and torch each) and are reused by
    later calls. A NumPy argument over 1 MB is written once per ``map`` call to a memory-mapped file that
    every task reads (read-only, as a Ray task's arrays are). Results are bit-equal to a
    :class:`LocalExecutor`'s run on the same thread count: every task seeds itself from its arguments.
    """

    kind = "processes"
    remote = True  # the callers' parallel paths (all tasks handed over at once), as on Ray

    def __init__(self, workers: int | None = None, threads: int = 1) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        if threads < 1:
            raise ConfigError(f"threads per task must be at least 1, got {threads}")
        self._workers = workers or usable_cpus()
        self.threads = threads

    @property
    def workers(self) -> int:
        """How many tasks run at once."""
        return self._workers

    def put(self, obj: Any) -> Any:
        """``obj`` itself: ``map`` memory-maps big arrays once per call."""
        return obj

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any,
            progress: Progress | None = None) -> list[Any]:
        """``[fn(item, *shared) for item in items]`` in the worker processes, in submission order;
        ``progress(done, total, "done/total tasks")`` as results arrive in that order."""
        from joblib import Parallel, delayed

        items = list(items)
        par = Parallel(n_jobs=min(self._workers, max(len(items), 1)), backend="loky", return_as="generator",
                       max_nbytes="1M", mmap_mode="r")
        out = []
        for i, r in enumerate(par(delayed(_call)(fn, item, *shared) for item in items)):
            out.append(r)
            if progress is not None:
                progress(i + 1, len(items), f"{i + 1}/{len(items)} tasks")
        return out


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it, else the machine's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def _call(fn: Callable[..., Any], item: Any, *shared: Any) -> Any:
    """The body of every Ray task: Ray has already replaced object references among the arguments."""
    return fn(item, *shared)


def import_ray() -> Any:
    """The ``ray`` module, or ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--cluster ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


def probe(address: str, timeout_s: float = 5.0) -> None:
    """Raise ConfigError within ``timeout_s`` seconds unless something accepts TCP connections at
    ``address`` (``host:port``, ``ray://host:port`` or ``host``; port 6379 when none is given).

    ``ray.init`` retries an unreachable address for minutes; this check answers in seconds.
    """
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep:
        host, port = hostport, str(DEFAULT_RAY_PORT)
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), 'auto' or 'local'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start its head with "
            f"`ray start --head --port={port}` on {host}, or run with --address local") from None


class RayExecutor:
    """Runs every task as a Ray task on a cluster.

    ``address``: ``"local"`` starts a Ray instance on this machine for the lifetime of the executor;
    ``None`` uses ``$RAY_ADDRESS`` (else ``"local"``); ``"auto"`` finds a cluster started on this
    machine with ``ray start``; ``HOST:PORT`` (or ``ray://HOST:PORT``) connects to that head node,
    after checking within ``connect_timeout_s`` seconds that it answers. ``cpus_per_task``: the CPUs each
    task reserves, and torch's thread count inside it (``threads``). ``max_retries``: how often a task
    is resubmitted when its worker process or node dies; ``retry_exceptions``: exception types that
    also resubmit it (default none: nidslab's tasks are deterministic, an error would recur).
    ``num_cpus``: CPUs of the instance ``"local"`` starts (default: all).
    """

    kind = "ray"
    remote = True

    def __init__(self, address: str | None = None, *, cpus_per_task: int = 1, max_retries: int = 3,
                 retry_exceptions: bool | Sequence[type[BaseException]] = False, connect_timeout_s: float = 5.0,
                 num_cpus: int | None = None) -> None:
        ray = import_ray()
        if cpus_per_task < 1:
            raise ConfigError(f"cpus_per_task must be at least 1, got {cpus_per_task}")
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        self.address, self.threads, self._ray = address, int(cpus_per_task), ray
        self._owns = not ray.is_initialized()
        if self._owns:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            quiet = {"logging_level": logging.ERROR, "log_to_driver": False, "include_dashboard": False}
            if address == "local":
                ray.init(num_cpus=num_cpus, **quiet)
            else:
                if address != "auto":
                    probe(address, connect_timeout_s)
                try:
                    ray.init(address=address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
                except ConnectionError as exc:
                    raise ConfigError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
        options: dict[str, Any] = {"num_cpus": self.threads, "max_retries": int(max_retries)}
        options["retry_exceptions"] = (list(retry_exceptions) if not isinstance(retry_exceptions, bool)
                                       else retry_exceptions)
        self._task = ray.remote(_call).options(**options)

    @property
    def workers(self) -> int:
        """How many tasks the cluster runs at once now (its CPUs / ``cpus_per_task``, at least 1)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)) // self.threads)

    def put(self, obj: Any) -> Any:
        """An object reference: ``obj`` serialised into the cluster's object store once."""
        return self._ray.put(obj)

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any,
            progress: Progress | None = None) -> list[Any]:
        """``[fn(item, *shared) for item in items]`` as Ray tasks, results in submission order.

        ``shared`` arguments that are not object references yet are put once for this call. A task's
        error is raised here (as Ray's wrapper of it) once its retries are spent.
        """
        ray = self._ray
        shared = tuple(s if isinstance(s, ray.ObjectRef) else ray.put(s) for s in shared)
        refs = [self._task.remote(fn, item, *shared) for item in items]
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done += len(ready)
            if progress is not None:
                progress(done, len(refs), f"{done}/{len(refs)} tasks")
        return ray.get(refs)

    def describe(self) -> dict[str, Any]:
        """Plain-data description for results.json (kind, address, workers, threads per task)."""
        return {"kind": self.kind, "address": self.address, "workers": self.workers, "threads": self.threads}

    def close(self) -> None:
        """Disconnect (and stop the instance ``"local"`` started), if this executor connected."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Executor = LocalExecutor | ProcessExecutor | RayExecutor
CLUSTERS = ("none", "processes", "ray")


def make_executor(cluster: str = "none", address: str | None = None, *, cpus_per_task: int = 1,
                  threads: int | None = None, workers: int | None = None) -> Executor:
    """The executor a ``--cluster`` option names: ``"none"`` (this process; ``threads`` as
    :class:`LocalExecutor`), ``"processes"`` (:class:`ProcessExecutor`: ``workers`` processes here, default
    one per usable CPU, ``threads`` each, default 1) or ``"ray"`` (:class:`RayExecutor` at ``address``)."""
    if cluster == "none":
        return LocalExecutor(threads=threads)
    if cluster == "processes":
        return ProcessExecutor(workers, threads=threads or 1)
    if cluster == "ray":
        return RayExecutor(address, cpus_per_task=cpus_per_task)
    raise ConfigError(f"--cluster {cluster!r}: expected one of {', '.join(CLUSTERS)}")


__all__ = ["CLUSTERS", "Executor", "LocalExecutor", "ProcessExecutor", "RayExecutor", "import_ray", "make_executor",
           "probe", "usable_cpus"]
