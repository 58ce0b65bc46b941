"""Stop signals: SIGINT/SIGTERM end a run at a step boundary with a checkpoint.

Cluster schedulers (SLURM, Kubernetes) pre-empt a job with SIGTERM, often to the whole process
group or to every process of the job. Only the training process may react: it finishes the
current step, writes a checkpoint and exits normally. DataLoader workers must not react at all,
else they die first and the main process fails with "DataLoader worker (pid N) is killed by
signal: Terminated" before it can write the checkpoint.

* :class:`StopRequest`: the main process's handler. The first SIGINT or SIGTERM is recorded (the
  trainer polls it after every step); a second SIGINT raises ``KeyboardInterrupt`` (stop now).
* :func:`ignore_stop_signals_in_worker`: the first thing a worker init function does. SIGINT and
  SIGTERM are blocked in the worker and taken by a thread that ignores them, except a SIGTERM
  sent by the worker's own parent (``Process.terminate()`` of the DataLoader's shutdown or of
  ``multiprocessing`` at exit), on which the worker exits as torch's own handler does. A worker
  that dies for another reason (killed, out of memory, a crash) is still reported by torch.
* :func:`guard_workers`: makes any DataLoader's workers call it (wraps ``worker_init_fn``).
* :func:`stop_signals_blocked`: blocks SIGINT/SIGTERM in the calling thread while a DataLoader
  iterator forks its workers, so a signal arriving between the fork and the worker's init
  function waits (pending) until the worker ignores it instead of killing it.

Nothing here imports the launcher.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "STOP_SIGNALS",
    "StopRequest",
    "guard_workers",
    "ignore_stop_signals_in_worker",
    "report_dead_workers",
    "shutdown_workers",
    "stop_signals_blocked",
]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
#: Set on worker init functions that call :func:`ignore_stop_signals_in_worker` themselves.
GUARD_ATTRIBUTE = "guards_stop_signals"
_CAN_WAIT = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigwaitinfo")
_guarded_pid: int | None = None


class StopRequest:
    """SIGINT/SIGTERM handler: record the first signal; a second SIGINT stops at once.

    Installing one on top of another (the launcher's, around a whole run; the trainer's,
    around ``train``) hands a recorded signal over in both directions: a signal caught while
    the run was starting stops the training after its first step, and one caught during
    training makes a later SIGINT stop at once.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            previous = signal.signal(sig, self._handle)
            self._previous[sig] = previous
            outer = getattr(previous, "__self__", None)
            if isinstance(outer, StopRequest) and self.signal is None:
                self.signal = outer.signal

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
            outer = getattr(handler, "__self__", None)
            if isinstance(outer, StopRequest) and outer.signal is None:
                outer.signal = self.signal
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        if self.signal is None:
            self.signal = signum


def ignore_stop_signals_in_worker() -> None:
    """Make this DataLoader worker ignore SIGINT/SIGTERM sent to the job (idempotent).

    Call it first in a worker init function, before any user code. A SIGTERM from the worker's
    parent still ends the worker (the DataLoader's ``terminate()``).
    """
    global _guarded_pid
    if _guarded_pid == os.getpid():
        return
    _guarded_pid = os.getpid()
    if not _CAN_WAIT:  # no sigwaitinfo (macOS, Windows): plain ignore
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_IGN)
        return
    parents = {os.getppid()}
    creator = multiprocessing.parent_process()  # the DataLoader's process (also under spawn)
    if creator is not None and creator.pid is not None:
        parents.add(creator.pid)
    # Blocked here, inherited by every thread started later: the signals stay pending until the
    # guard thread takes them (a Python handler would only run in this thread, between
    # bytecodes, and could not tell who sent the signal).
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    def guard() -> None:
        while True:
            info = signal.sigwaitinfo(STOP_SIGNALS)
            if info.si_signo == signal.SIGTERM and info.si_pid in parents:
                os._exit(0)  # the DataLoader ends its worker, as torch's own handler does

    threading.Thread(target=guard, name="stop-signal-guard", daemon=True).start()


class _GuardedWorkerInit:
    """A worker init function that ignores stop signals first, then runs the original one."""

    def __init__(self, fn: Callable[[int], Any] | None) -> None:
        self.fn = fn

    def __call__(self, worker_id: int) -> None:
        ignore_stop_signals_in_worker()
        if self.fn is not None:
            self.fn(worker_id)


setattr(_GuardedWorkerInit, GUARD_ATTRIBUTE, True)


def guard_workers(loader: Any) -> None:
    """Make the workers of ``loader`` (a DataLoader, or ``None``) ignore stop signals.

    Wraps its ``worker_init_fn`` unless that already does it; workers started from then on are
    guarded.
    """
    if loader is None or not getattr(loader, "num_workers", 0):
        return
    fn = getattr(loader, "worker_init_fn", None)
    if not getattr(fn, GUARD_ATTRIBUTE, False):
        loader.worker_init_fn = _GuardedWorkerInit(fn)


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Block SIGINT/SIGTERM in this thread (workers forked meanwhile inherit the mask); a
    signal that arrives meanwhile is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def shutdown_workers(loader: Any, iterator: Any) -> None:
    """Shut the workers of a DataLoader ``iterator`` down now (persistent ones included)."""
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if callable(shutdown):
        shutdown()
    if loader is not None and getattr(loader, "_iterator", None) is iterator:
        loader._iterator = None  # a persistent iterator: the next iter() starts new workers


def report_dead_workers(batches: Iterator[Any]) -> Iterator[Any]:
    """Yield from a DataLoader iterator; a worker that died (killed by the OOM killer, a
    SIGKILL) can surface in the main process as a broken connection instead of torch's
    "DataLoader worker (pid N) ..." error: re-raise it as that error, naming the worker."""
    try:
        yield from batches
    except (ConnectionResetError, BrokenPipeError, EOFError) as e:
        workers = getattr(batches, "_workers", None) or []
        dead = [str(w.pid) for w in workers if not w.is_alive()] or ["unknown"]
        shutdown_workers(None, batches)  # see below
        raise RuntimeError(
            f"DataLoader worker (pid(s) {', '.join(dead)}) exited unexpectedly "
            f"({type(e).__name__}: {e})"
        ) from e
    except Exception:
        # also takes the workers off torch's SIGCHLD watch, whose handler would otherwise raise
        # a second error for the same dead worker while the first is being reported
        shutdown_workers(None, batches)
        raise
