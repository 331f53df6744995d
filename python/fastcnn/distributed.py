"""Data-parallel training over MPI (mpi4py): `mpirun -n 4 python train.py`.

    model.fit(x, y, batch_size=32, epochs=5, seed=0, distributed=True)
    # or, with the extra options:
    fastcnn.distributed.fit(model, x, y, batch_size=32, epochs=5, seed=0,
                            checkpoint="ckpt.npz", timeout=300)

Every rank runs the same script on the same (x, y) and holds a full replica of
the model. Per epoch all ranks draw one global permutation from the shared
seed (the one `Sequential.fit` uses), cut it to a multiple of the world size
and take a rank-strided slice of it, so the shards are disjoint, equally long
(every rank runs the same number of steps) and the union of the ranks'
step-b batches is exactly batch b of a single-process run with
`batch_size * world_size`. `batch_size` is per rank.

A step is forward + backward on the local batch; during backward the
gradients are packed into buckets of at most `bucket_mb` MiB, cut at layer
boundaries in backward order, and each bucket's in-place `Iallreduce` starts as
soon as backward has passed its layers (so the big last layers are reduced
while the convolutions' backward still runs). Then one small Allreduce carries
an error flag and the sample-weighted loss and metrics, the sums are divided by
the world size and the same optimizer step runs on every rank (so replicas
never drift). Parameters, layer state, optimizer
state and dropout RNG states are broadcast from rank 0 at the start;
BatchNormalization moving statistics are averaged at each epoch end.

Failures: an exception on any rank during a step is seen by all ranks at the
flag Allreduce and all of them raise (the failing rank its own exception, the
others `DistributedError` naming it); an exception outside a step (a callback,
rank 0's checkpoint, ...) prints its traceback and calls `comm.Abort`; a rank
that waits in a collective longer than `timeout` seconds (a peer hung or
died) calls `comm.Abort`, so a job never hangs. Only rank 0 prints progress
and writes checkpoints (`Sequential.save`, atomic).

Without MPI (no mpi4py, or one process) everything here is a plain `fit`;
asking for a world of more than one process without mpi4py installed raises
ImportError with the install command.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import traceback

import numpy as np

__all__ = ["World", "get_world", "env_world_size", "fit", "evaluate", "DistributedError", "default_threads"]

DEFAULT_TIMEOUT = 300.0  # seconds a rank may wait in one collective
DEFAULT_BUCKET_MB = 4  # gradient bucket size: small enough that the last layers'
# reduction overlaps the backward of the first ones

# Environment variables that launchers set to the number of processes.
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
_LOCAL_SIZE_VARS = (
    "OMPI_COMM_WORLD_LOCAL_SIZE",
    "MPI_LOCALNRANKS",
    "MV2_COMM_WORLD_LOCAL_SIZE",
    "SLURM_NTASKS_PER_NODE",
)


class DistributedError(RuntimeError):
    """Raised on every rank when another rank failed during a collective step."""


def env_world_size():
    """Number of processes the MPI launcher started (1 when not under a launcher).

    Read from the environment (mpirun / mpiexec / srun), so MPI is not initialised."""
    for var in _SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    if "PMIX_RANK" in os.environ or "PMI_RANK" in os.environ:  # srun --mpi=pmix / pmi2
        value = os.environ.get("SLURM_STEP_NUM_TASKS", "")
        if value.isdigit():
            return int(value)
    return 1


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "distributed training needs mpi4py and an MPI library: "
            "apt-get install openmpi-bin libopenmpi-dev && pip install 'fastcnn[mpi]' "
            f"({e})"
        ) from None
    return MPI


class World:
    """rank, size and communicator of this process (size 1, comm None without MPI)."""

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.local_size = 1
        if comm is not None and self.size > 1:
            MPI = _import_mpi()
            node = comm.Split_type(MPI.COMM_TYPE_SHARED)
            self.local_size = node.Get_size()
            node.Free()

    @property
    def is_root(self):
        return self.rank == 0

    def __repr__(self):
        return f"World(rank={self.rank}, size={self.size}, local_size={self.local_size})"


_WORLD = None


def get_world(comm=None):
    """The `World` of `comm`, else of MPI.COMM_WORLD when a launcher started >1 process
    (or mpi4py is already imported), else a single-process world without MPI."""
    global _WORLD
    if comm is not None:
        return World(comm)
    if _WORLD is None:
        if env_world_size() > 1:
            _WORLD = World(_import_mpi().COMM_WORLD)
        elif "mpi4py.MPI" in sys.modules:
            _WORLD = World(sys.modules["mpi4py.MPI"].COMM_WORLD)
        else:
            _WORLD = World(None)
    return _WORLD


def default_threads(world=None):
    """Threads per rank that share this node's cores evenly (at least 1)."""
    world = world or get_world()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    if cpus >= (os.cpu_count() or cpus):  # not bound to a subset: share the node
        local = world.local_size
        for var in _LOCAL_SIZE_VARS:
            if os.environ.get(var, "").isdigit():
                local = max(local, int(os.environ[var]))
        cpus //= max(local, 1)
    return max(cpus, 1)


# ------------------------------------------------------------------ helpers


class _Watchdog:
    """Calls comm.Abort when a rank waits in one collective longer than `timeout` s."""

    def __init__(self, comm, timeout):
        self.comm, self.timeout = comm, timeout
        self.deadline, self.what = None, ""
        self._stop = threading.Event()
        self._thread = None
        if comm is not None and timeout:
            self._thread = threading.Thread(target=self._run, name="fastcnn-mpi-watchdog", daemon=True)
            self._thread.start()

    def _run(self):
        tick = min(1.0, self.timeout / 4)
        while not self._stop.wait(tick):
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                sys.stderr.write(
                    f"fastcnn.distributed: rank {self.comm.Get_rank()} waited more than "
                    f"{self.timeout:g} s in {self.what}; another rank hung or died. "
                    f"Aborting the job (timeout= / FASTCNN_MPI_TIMEOUT)\n"
                )
                sys.stderr.flush()
                self.comm.Abort(1)

    def __call__(self, what):
        self.what = what
        return self

    def __enter__(self):
        if self._thread is not None:
            self.deadline = time.monotonic() + self.timeout
        return self

    def __exit__(self, *exc):
        self.deadline = None
        return False

    def stop(self):
        self._stop.set()


class _FlatBuffers:
    """Arrays packed into one contiguous buffer per dtype (one message each)."""

    def __init__(self, arrays):
        self.flats, self.views = {}, [None] * len(arrays)
        groups = {}
        for i, a in enumerate(arrays):
            groups.setdefault(np.dtype(a.dtype), []).append(i)
        for dtype, indices in groups.items():
            flat = np.empty(sum(arrays[i].size for i in indices), dtype)
            self.flats[dtype] = flat
            offset = 0
            for i in indices:
                self.views[i] = flat[offset : offset + arrays[i].size].reshape(arrays[i].shape)
                offset += arrays[i].size
        self.nbytes = sum(f.nbytes for f in self.flats.values())

    def pack(self, arrays):
        for view, a in zip(self.views, arrays):
            np.copyto(view, a)

    def unpack(self, arrays):
        for view, a in zip(self.views, arrays):
            np.copyto(a, view)


class _GradientBuckets:
    """Gradients reduced while backward still runs, in buckets that fill in backward order.

    Backward visits the layers last to first, so the buckets are cut from the
    parameters in that order, at layer boundaries, each of at most `bucket_bytes`
    (a layer larger than that is a bucket of its own) and of one dtype. When
    backward has passed every layer of a bucket its gradients are copied in and a
    non-blocking Iallreduce starts, so the reduction of the last layers (typically
    the big Dense weights) runs during the backward of the convolutions. Every rank
    starts the buckets in the same order, which MPI requires of collectives.
    """

    def __init__(self, model, bucket_bytes):
        self.views = [None] * len(model.params)
        self.buckets = []  # [flat, [(param index, view)...], layers]
        # layer index -> parameter indices, walked last layer first
        per_layer, i = [], 0
        for li, layer in enumerate(model.layers):
            per_layer.append((li, list(range(i, i + len(layer.params)))))
            i += len(layer.params)
        params = model.params
        open_ = {}  # dtype -> (param indices, layers, bytes)
        for li, indices in reversed(per_layer):
            by_dtype = {}
            for pi in indices:
                by_dtype.setdefault(np.dtype(params[pi].dtype), []).append(pi)
            for dtype, pis in by_dtype.items():
                nbytes = sum(params[pi].nbytes for pi in pis)
                cur = open_.get(dtype)
                if cur is not None and cur[2] + nbytes > bucket_bytes:
                    self._close(params, dtype, *cur[:2])
                    cur = None
                if cur is None:
                    cur = ([], set(), 0)
                open_[dtype] = (cur[0] + pis, cur[1] | {li}, cur[2] + nbytes)
        for dtype, cur in open_.items():
            self._close(params, dtype, *cur[:2])
        self.buckets.sort(key=lambda b: -min(b[2]))  # complete first = started first
        self.nbytes = sum(b[0].nbytes for b in self.buckets)
        self.layer_buckets = {}
        for k, (_, _, layers) in enumerate(self.buckets):
            self.layer_buckets.setdefault(min(layers), []).append(k)

    def _close(self, params, dtype, pis, layers):
        flat = np.empty(sum(params[pi].size for pi in pis), dtype)
        members, offset = [], 0
        for pi in pis:
            view = flat[offset : offset + params[pi].size].reshape(params[pi].shape)
            self.views[pi] = view
            members.append((pi, view))
            offset += params[pi].size
        self.buckets.append([flat, members, layers])

    def fill(self, k, grads):
        for pi, view in self.buckets[k][1]:
            np.copyto(view, grads[pi])


def _agreed(exc):
    exc._fastcnn_agreed = True
    return exc


class _Trainer:
    """The collective side of one `fit` call."""

    def __init__(self, model, world, timeout):
        self.model, self.world = model, world
        self.comm, self.rank, self.size = world.comm, world.rank, world.size
        self.MPI = _import_mpi()
        if timeout is None:
            timeout = float(os.environ.get("FASTCNN_MPI_TIMEOUT", DEFAULT_TIMEOUT))
        self.watchdog = _Watchdog(self.comm, timeout)

    def prepare(self, bucket_mb):
        """Gradient and state buffers (the model must be built)."""
        model = self.model
        self.grads = _GradientBuckets(model, int(bucket_mb * 2**20))
        self.state_arrays = [s for layer in model.layers for s in layer.state]
        self.state = _FlatBuffers(self.state_arrays) if self.state_arrays else None
        self.stats = {
            "world_size": self.size,
            "steps": 0,
            "allreduce_seconds": 0.0,
            "sync_seconds": 0.0,
            "backward_seconds": 0.0,
            "gradient_bytes": self.grads.nbytes,
            "buckets": len(self.grads.buckets),
            "allreduce_step_seconds": [],
        }

    # -- collectives
    def allreduce(self, buffer, what, op=None):
        with self.watchdog(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=op or self.MPI.SUM)
        return buffer

    def agree(self, error, what):
        """Every rank calls this; if any rank passes an exception, all raise."""
        flag = self.allreduce(np.array([0.0 if error is None else 1.0]), what)
        if flag[0]:
            self.raise_failure(error, what)

    def raise_failure(self, error, what):
        with self.watchdog(what):
            messages = self.comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
        failed = [(r, m) for r, m in enumerate(messages) if m is not None]
        if error is not None:
            raise _agreed(error)
        r, m = failed[0]
        raise _agreed(
            DistributedError(
                f"rank {r} failed {what}: {m}"
                + (f" (and {len(failed) - 1} other ranks)" if len(failed) > 1 else "")
            )
        )

    # -- start: same seed, same data, same replicas everywhere
    def check_and_broadcast(self, n, seed):
        model, comm = self.model, self.comm
        mine = (n, model.count_params(), [str(p.dtype) for p in model.params], type(model.optimizer).__name__)
        with self.watchdog("the start-up check"):
            everyone = comm.allgather(mine)
        if any(other != everyone[0] for other in everyone):
            raise _agreed(
                ValueError(
                    "ranks disagree on (samples, parameters, dtypes, optimizer): "
                    + "; ".join(f"rank {r}: {o[:2]}" for r, o in enumerate(everyone))
                    + " -- every rank must build the same model and load the same data"
                )
            )
        arrays = model.params + self.state_arrays
        flat = _FlatBuffers(arrays)
        flat.pack(arrays)
        with self.watchdog("the parameter broadcast"):
            for buffer in flat.flats.values():
                comm.Bcast(buffer, root=0)
            extra = comm.bcast(
                (
                    model.optimizer.get_state(),
                    model.epochs,
                    {
                        i: layer.rng.bit_generator.state
                        for i, layer in enumerate(model.layers)
                        if isinstance(getattr(layer, "rng", None), np.random.Generator)
                    },
                    int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed,
                )
                if self.rank == 0
                else None,
                root=0,
            )
        flat.unpack(arrays)
        model._weights_version += 1  # written in place: inference plans rebuild
        opt_state, epochs, rngs, seed = extra
        if self.rank != 0:
            model.optimizer.set_state(opt_state)
            model.epochs = epochs
            for i, state in rngs.items():
                model.layers[i].rng.bit_generator.state = state
        return seed

    # -- one step
    def _backward_and_reduce(self, dout, requests):
        """Backward, layer by layer, starting each bucket's Iallreduce once it is complete."""
        model = self.model
        for li in range(len(model.layers) - 1, -1, -1):
            dout = model.layers[li].backward(dout)
            for k in self.grads.layer_buckets.get(li, ()):
                self.grads.fill(k, model.grads)
                requests.append(
                    self.comm.Iallreduce(self.MPI.IN_PLACE, self.grads.buckets[k][0], op=self.MPI.SUM)
                )
            if requests:
                self.MPI.Request.Testall(requests)  # lets MPI progress the reductions

    def step(self, xb, yb, stop_on_nan, where, n_metrics):
        model = self.model
        stats = np.zeros(3 + n_metrics)  # error, samples, loss*n, metric*n...
        error, logs, requests = None, None, []
        t0 = time.perf_counter()
        try:
            y_pred = model._forward(xb, training=True)
            loss = model.loss.forward(y_pred, model._match_targets(y_pred, yb))
            self._backward_and_reduce(model.loss.backward(), requests)
            logs = model._logs(loss, y_pred, yb)
            stats[1] = len(xb)
            stats[2:] = [len(xb) * v for v in logs.values()][: n_metrics + 1]
        except Exception as e:  # noqa: BLE001 -- re-raised on every rank
            error, stats[:] = e, 0.0
            stats[0] = 1.0
            # the other ranks start every bucket: match them so no collective is left open
            for flat, _, _ in self.grads.buckets[len(requests) :]:
                requests.append(self.comm.Iallreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM))
        t1 = time.perf_counter()
        with self.watchdog("the gradient Allreduce" + where):
            self.MPI.Request.Waitall(requests)
        t2 = time.perf_counter()
        self.allreduce(stats, "the step's error/metric Allreduce" + where)
        t3 = time.perf_counter()
        self.stats["backward_seconds"] += t1 - t0
        self.stats["allreduce_seconds"] += t2 - t1
        self.stats["allreduce_step_seconds"].append(t2 - t1)
        self.stats["sync_seconds"] += t3 - t2
        if stats[0]:
            self.raise_failure(error, "during a training step" + where)
        total = stats[1]
        global_logs = dict(zip(logs.keys(), (stats[2:] / total).tolist()))
        if stop_on_nan and not math.isfinite(global_logs["loss"]):
            raise _agreed(
                FloatingPointError(
                    f"loss is {global_logs['loss']}{where} (averaged over {self.size} ranks); "
                    f"training stopped before the update (weights are those of the last finite "
                    f"step). Try a lower learning rate, clipnorm=, or scaled inputs"
                )
            )
        for flat, _, _ in self.grads.buckets:
            flat *= 1.0 / self.size
        self.stats["steps"] += 1
        model.optimizer.step(model.params, self.grads.views, model.trainable_mask())
        return int(total), global_logs

    def average_state(self):
        """BatchNormalization moving statistics: the mean over ranks."""
        if self.state is None:
            return
        self.state.pack(self.state_arrays)
        for flat in self.state.flats.values():
            self.allreduce(flat, "the BatchNorm statistics Allreduce")
            flat *= 1.0 / self.size
        self.state.unpack(self.state_arrays)
        self.model._weights_version += 1  # written in place: inference plans rebuild

    def evaluate(self, x, y, batch_size):
        return _evaluate(self.model, x, y, batch_size, self)


def _evaluate(model, x, y, batch_size, trainer):
    """Sample-weighted [loss, metrics...] over rank-strided shards of (x, y)."""
    from .model import _keras_result

    names = ["loss"] + list(model.metrics)
    sums = np.zeros(1 + len(names))
    error = None
    try:
        xs, ys = x[trainer.rank :: trainer.size], y[trainer.rank :: trainer.size]
        if len(xs):
            values = np.atleast_1d(model.evaluate(xs, ys, batch_size=batch_size))
            sums[0], sums[1:] = len(xs), len(xs) * values
    except Exception as e:  # noqa: BLE001
        error = e
    trainer.agree(error, "during evaluation")
    trainer.allreduce(sums, "the evaluation Allreduce")
    return _keras_result(dict(zip(names, (sums[1:] / sums[0]).tolist())))


# ------------------------------------------------------------------ public API


def fit(
    model,
    x,
    y,
    batch_size=32,
    epochs=1,
    validation_split=0.0,
    validation_data=None,
    shuffle=True,
    verbose=1,
    seed=None,
    callbacks=None,
    stop_on_nan=True,
    checkpoint=None,
    comm=None,
    timeout=None,
    bucket_mb=DEFAULT_BUCKET_MB,
):
    """`Sequential.fit` over all MPI ranks; returns the `History` (same on every rank).

    batch_size is per rank (global batch = batch_size * ranks); every rank must pass
    the same x, y, model and compile settings. checkpoint: a path (may contain
    '{epoch}') that rank 0 writes with `model.save` after every epoch. comm: an mpi4py
    communicator (default MPI.COMM_WORLD under a launcher). timeout: seconds a rank may
    wait in a collective before aborting the job (default $FASTCNN_MPI_TIMEOUT or 300;
    0 or None-with-env-0 disables). With one process this is `model.fit` (plus the
    checkpoint). `history.distributed` holds step and Allreduce timing statistics.
    """
    from .model import History, _call, _check_data, _positive_int, _ProgressBar, _split_validation

    world = get_world(comm)
    if world.size == 1:
        history = model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            verbose=verbose,
            seed=seed,
            callbacks=list(callbacks or []) + ([_Checkpoint(model, checkpoint)] if checkpoint else []),
            stop_on_nan=stop_on_nan,
        )
        history.distributed = {"world_size": 1}
        return history

    trainer = _Trainer(model, world, timeout)
    try:
        error = None
        try:  # argument errors: every rank raises them
            model._require_compiled()
            x, y = _check_data(x, y)
            batch_size = _positive_int(batch_size, "batch_size")
            epochs = _positive_int(epochs, "epochs", allow_zero=True)
            x, y, validation_data = _split_validation(x, y, validation_split, validation_data)
            model._ensure_built(x)
        except Exception as e:  # noqa: BLE001
            error = e
        trainer.agree(error, "checking the arguments of fit")
        trainer.prepare(bucket_mb)
        seed = trainer.check_and_broadcast(len(x), seed)
        n = len(x) - len(x) % world.size
        if n == 0:
            raise _agreed(ValueError(f"{len(x)} samples cannot be shared by {world.size} ranks"))
        verbose = verbose if world.is_root else 0
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            else:
                cb.model = model
        history = model.history = History()
        model.stop_training = False
        n_metrics = len(model.metrics)
        _call(callbacks, "on_train_begin", {})
        for k in range(epochs):
            epoch = model.epochs
            _call(callbacks, "on_epoch_begin", epoch, {})
            order = np.random.default_rng((seed, epoch)).permutation(len(x)) if shuffle else np.arange(len(x))
            shard = order[:n][world.rank :: world.size]
            bar = _ProgressBar(n, f"Epoch {k + 1}/{epochs}", verbose)
            totals, seen, start = {}, 0, time.perf_counter()
            try:
                for b, lo in enumerate(range(0, len(shard), batch_size)):
                    idx = shard[lo : lo + batch_size]
                    where = f" at epoch {epoch + 1}, batch {b + 1}"
                    count, logs = trainer.step(x[idx], y[idx], stop_on_nan, where, n_metrics)
                    for key, value in logs.items():
                        totals[key] = totals.get(key, 0.0) + value * count
                    seen += count
                    _call(callbacks, "on_batch_end", b, logs)
                    bar.update(count, {key: v / seen for key, v in totals.items()})
            except BaseException:
                bar.abort()
                raise
            trainer.average_state()
            logs = {key: v / seen for key, v in totals.items()}
            if validation_data is not None:
                values = trainer.evaluate(*validation_data, batch_size=batch_size)
                names = ["val_loss"] + ["val_" + m for m in model.metrics]
                logs.update(zip(names, np.atleast_1d(values).tolist()))
            bar.close(logs, seen / max(time.perf_counter() - start, 1e-9))
            model.epochs += 1
            history.append(epoch, logs)
            if checkpoint:
                error = None
                if world.is_root:
                    try:
                        model.save(str(checkpoint).format(epoch=model.epochs))
                    except Exception as e:  # noqa: BLE001
                        error = e
                trainer.agree(error, "writing the checkpoint on rank 0")
            _call(callbacks, "on_epoch_end", epoch, logs)
            stop = trainer.allreduce(
                np.array([1.0 if model.stop_training else 0.0]),
                "the stop_training Allreduce",
                op=trainer.MPI.MAX,
            )
            model.stop_training = bool(stop[0])
            if model.stop_training:
                break
        _call(callbacks, "on_train_end", history.history)
        history.distributed = dict(trainer.stats)
        return history
    except BaseException as e:
        if getattr(e, "_fastcnn_agreed", False):
            raise  # every rank raises it: no hang
        _abort(world, e)
        raise
    finally:
        trainer.watchdog.stop()


def evaluate(model, x, y, batch_size=32, comm=None, timeout=None):
    """`model.evaluate` with the samples split over the ranks; same result on every rank."""
    world = get_world(comm)
    if world.size == 1:
        return model.evaluate(x, y, batch_size=batch_size)
    from .model import _check_data

    trainer = _Trainer(model, world, timeout)
    try:
        error = None
        try:
            x, y = _check_data(x, y)
            model._ensure_built(x)
        except Exception as e:  # noqa: BLE001
            error = e
        trainer.agree(error, "checking the arguments of evaluate")
        return trainer.evaluate(x, y, batch_size)
    except BaseException as e:
        if not getattr(e, "_fastcnn_agreed", False):
            _abort(world, e)
        raise
    finally:
        trainer.watchdog.stop()


def _abort(world, error):
    """An exception only this rank sees: the others would wait forever, so end the job."""
    sys.stderr.write(
        f"fastcnn.distributed: rank {world.rank} of {world.size} failed outside "
        f"a collective step; aborting all ranks:\n"
    )
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    sys.stderr.flush()
    world.comm.Abort(1)


class _Checkpoint:
    """Single-process stand-in of fit(checkpoint=...): save after every epoch."""

    def __init__(self, model, path):
        self.model, self.path = model, path

    def on_epoch_end(self, epoch, logs):
        self.model.save(str(self.path).format(epoch=self.model.epochs))
