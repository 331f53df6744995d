"""Data-parallel training over MPI (mpi4py): `mpirun -n 4 python train.py`.

    model.fit(x, y, batch_size=32, epochs=5, seed=0, distributed=True)
    # or, with the options of this module:
    fastcnn.distributed.fit(model, x, y, batch_size=32, epochs=5, seed=0,
                            checkpoint="ckpt.npz", timeout=300)

Every rank runs the same script on the same (x, y) and holds a full replica of
the model. Per epoch all ranks draw one global permutation from the shared
seed (the one `Sequential.fit` uses), cut it to a multiple of the world size
and take a rank-strided slice of it, so the shards are disjoint, equally long
(every rank runs the same number of steps) and the union of the ranks'
step-b batches is exactly batch b of a single-process run with
`batch_size * world_size`. `batch_size` is per rank.

The epoch and batch loop, callbacks and metrics are those of `Sequential.fit`
(fastcnn.training); this module adds what differs. A step is forward +
backward on the local batch; during backward the gradients are packed into
buckets of at most `bucket_mb` MiB, cut at layer boundaries in backward order,
and each bucket's in-place `Iallreduce` starts as soon as backward has passed
its layers (so the big last layers are reduced while the convolutions'
backward still runs; a graph model (fastcnn.Model) starts them when its
backward is done, since a shared layer's gradient is complete only then).
Then one small Allreduce carries an error flag and the step's loss and metric
sums (fastcnn.training.Tracker: sample count, loss times batch size, confusion
counts, ...), so every rank logs the metrics of the global batch; the
gradient sums are divided by the world size and the same optimizer step runs
on every rank (so replicas never drift). Parameters, layer state, optimizer
state and dropout RNG states are broadcast from rank 0 at the start;
BatchNormalization moving statistics are averaged at each epoch end.
Evaluation (and validation) splits the samples rank-strided and sums the
trackers once at the end.

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

from . import training

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
    """The collective side of one fit / evaluate call: the runner training.py drives
    (which batches this rank takes, the step with reduced gradients, summed metrics)."""

    def __init__(self, model, world, timeout, bucket_mb=DEFAULT_BUCKET_MB, checkpoint=None):
        self.model, self.world = model, world
        self.comm, self.rank, self.size = world.comm, world.rank, world.size
        self.is_root = world.is_root
        self.bucket_mb, self.checkpoint = bucket_mb, checkpoint
        self.MPI = _import_mpi()
        if timeout is None:
            timeout = float(os.environ.get("FASTCNN_MPI_TIMEOUT", DEFAULT_TIMEOUT))
        self.watchdog = _Watchdog(self.comm, timeout)
        self.stats = {"world_size": self.size, "steps": 0}

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

    def checked(self, fn, what):
        """fn() on every rank; an exception on any rank is raised on all of them."""
        error = result = None
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 -- re-raised on every rank
            error = e
        self.agree(error, what)
        return result

    # -- start: same seed, same data, same replicas everywhere
    def start(self, model, source, seed):
        def check():
            if not model.built or any(not layer.built for layer in model.layers):
                raise ValueError(
                    "distributed training over an iterable needs a built model: "
                    "start it with an Input layer or call model.build(input_shape)"
                )
            if isinstance(source, training.ArrayBatches):
                return ("samples", source.samples)
            if source.steps is None:
                raise ValueError(
                    "distributed training over an iterable needs steps_per_epoch (or an iterable "
                    "with len()): every rank must run the same number of steps"
                )
            return ("steps", source.steps)

        key = self.checked(check, "checking the input of fit")
        self.prepare(self.bucket_mb)
        seed = self.check_and_broadcast(key, seed)
        if isinstance(source, training.ArrayBatches) and source.samples < self.size:
            raise _agreed(ValueError(f"{source.samples} samples cannot be shared by {self.size} ranks"))
        model._world_rank = self.rank
        return seed

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

    # -- batches: disjoint shards of arrays; an iterable per rank, the same number of steps
    def train_batches(self, source, epoch):
        if isinstance(source, training.ArrayBatches):
            return source.batches(epoch, shard=(self.rank, self.size))
        return self._exact_steps(source, epoch)

    @staticmethod
    def _exact_steps(source, epoch):
        batches = source.batches(epoch)
        for _ in range(source.steps):
            yield next(batches, None)  # None: this rank ran out, the step fails on every rank

    def test_batches(self, source):
        if isinstance(source, training.ArrayBatches):
            part = slice(self.rank, None, self.size)
            w = None if source.w is None else source.w[part]
            return training.ArrayBatches(source.x[part], source.y[part], w, source.batch_size).batches(0)
        return source.batches(0)

    # -- one step
    def _backward_and_reduce(self, dout, requests):
        """Backward, starting each bucket's Iallreduce once backward has passed its layers."""
        from .graph import Model

        model, buckets = self.model, self.grads.buckets
        started = 0

        def start_bucket(k):
            self.grads.fill(k, model.grads)
            requests.append(self.comm.Iallreduce(self.MPI.IN_PLACE, buckets[k][0], op=self.MPI.SUM))

        if not isinstance(model, Model):  # layer by layer, last first
            index = {id(layer): i for i, layer in enumerate(model.layers)}
            for layer, _ in reversed(model._ran_steps):
                dout = layer.backward(dout)
                passed = index[id(layer)]
                while started < len(buckets) and min(buckets[started][2]) >= passed:
                    start_bucket(started)
                    started += 1
                if requests:
                    self.MPI.Request.Testall(requests)  # lets MPI progress the reductions
        else:  # a shared layer's gradient is complete only when the whole backward is
            model._backward(dout)
        for k in range(started, len(buckets)):
            start_bucket(k)

    def train_step(self, model, batch, tracker, stop_on_nan, where):
        stats = np.zeros(1 + tracker.totals.size)  # error flag, then the tracker's sums
        error, pieces, requests = None, None, []
        t0 = time.perf_counter()
        try:
            if batch is None:
                raise ValueError(f"the input of rank {self.rank} ran out of batches{where}")
            x, y, w = batch
            y_pred = model._forward(x, training=True)
            y = model._match_targets(y_pred, y)
            loss = model.loss.forward(y_pred, y, w)
            stats[1:], pieces = tracker.batch_state(model._loss_values(loss), len(x), y_pred, y)
            self._backward_and_reduce(model.loss.backward(), requests)
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
        tracker.merge(stats[1:], None)
        if tracker.keeps_scores:
            with self.watchdog("the score allgather" + where):
                for rank_pieces in self.comm.allgather(pieces):
                    tracker.merge_pieces(rank_pieces)
        count, global_loss = stats[1], stats[2] / stats[1]
        if stop_on_nan and not math.isfinite(global_loss):
            if stop_on_nan == "skip":  # TerminateOnNaN: no update, training ends after the batch
                return int(count)
            raise _agreed(
                FloatingPointError(
                    f"loss is {global_loss}{where} (averaged over {self.size} ranks); "
                    f"training stopped before the update (weights are those of the last finite "
                    f"step). Try a lower learning rate, clipnorm=, or scaled inputs"
                )
            )
        for flat, _, _ in self.grads.buckets:
            flat *= 1.0 / self.size
        self.stats["steps"] += 1
        model.optimizer.step(model.params, self.grads.views, model.trainable_mask())
        return int(count)

    def stop(self, flag, per_batch=False):
        """Whether any rank set model.stop_training (checked after a batch only when a
        batch callback could have set it)."""
        if not per_batch:
            return False
        stop = self.allreduce(np.array([1.0 if flag else 0.0]), "the stop_training Allreduce", self.MPI.MAX)
        return bool(stop[0])

    def end_epoch(self, model):
        """BatchNormalization moving statistics: the mean over ranks."""
        if self.state is None:
            return
        self.state.pack(self.state_arrays)
        for flat in self.state.flats.values():
            self.allreduce(flat, "the BatchNorm statistics Allreduce")
            flat *= 1.0 / self.size
        self.state.unpack(self.state_arrays)
        model._weights_version += 1  # written in place: inference plans rebuild

    def after_epoch(self, model):
        if not self.checkpoint:
            return
        error = None
        if self.is_root:
            try:
                model.save(str(self.checkpoint).format(epoch=model.epochs))
            except Exception as e:  # noqa: BLE001
                error = e
        self.agree(error, "writing the checkpoint on rank 0")

    def reduce(self, tracker):
        """Sums over ranks of an evaluation's tracker (and every rank's scores)."""
        self.allreduce(tracker.totals, "the evaluation Allreduce")
        if tracker.keeps_scores:
            mine = [metric.pieces for _, _, metric, _, _ in tracker.entries]
            with self.watchdog("the evaluation score allgather"):
                everyone = self.comm.allgather(mine)
            for k, (_, _, metric, _, _) in enumerate(tracker.entries):
                metric.pieces = [piece for rank in everyone for piece in rank[k]]


# ------------------------------------------------------------------ public API


def fit(
    model,
    x,
    y=None,
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
    **options,
):
    """`Sequential.fit` / `Model.fit` over all MPI ranks; returns the `History` (the same
    on every rank).

    batch_size is per rank (global batch = batch_size * ranks); every rank must pass
    the same x, y, model and compile settings. An iterable of batches instead of
    arrays: each rank iterates its own (its shard), and all must run the same number
    of steps (steps_per_epoch or len()). checkpoint: a path (may contain '{epoch}')
    that rank 0 writes with `model.save` after every epoch. comm: an mpi4py
    communicator (default MPI.COMM_WORLD under a launcher). timeout: seconds a rank
    may wait in a collective before aborting the job (default $FASTCNN_MPI_TIMEOUT or
    300). options: the other arguments of fit (class_weight, sample_weight,
    steps_per_epoch, validation_steps, validation_batch_size, validation_freq).
    With one process this is `model.fit` (plus the checkpoint).
    `history.distributed` holds step and Allreduce timing statistics.
    """
    arguments = dict(
        batch_size=batch_size,
        epochs=epochs,
        validation_split=validation_split,
        validation_data=validation_data,
        shuffle=shuffle,
        verbose=verbose,
        seed=seed,
        stop_on_nan=stop_on_nan,
        **options,
    )
    world = get_world(comm)
    if world.size == 1:
        saver = [_Checkpoint(model, checkpoint)] if checkpoint else []
        history = training.fit(model, x, y, callbacks=list(callbacks or []) + saver, **arguments)
        history.distributed = {"world_size": 1}
        return history

    trainer = _Trainer(model, world, timeout, bucket_mb, checkpoint)
    try:
        history = training.fit(model, x, y, callbacks=callbacks, runner=trainer, **arguments)
        history.distributed = dict(trainer.stats)
        return history
    except BaseException as e:
        if getattr(e, "_fastcnn_agreed", False):
            raise  # every rank raises it: no hang
        _abort(world, e)
        raise
    finally:
        trainer.watchdog.stop()
        model._world_rank = 0


def evaluate(model, x, y=None, batch_size=32, comm=None, timeout=None, **options):
    """`model.evaluate` with the samples split over the ranks (rank r takes samples r,
    r + size, ...; an iterable: each rank's own); the same result on every rank.
    options: sample_weight, steps, callbacks, return_dict, verbose."""
    world = get_world(comm)
    if world.size == 1:
        return model.evaluate(x, y, batch_size=batch_size, **options)
    trainer = _Trainer(model, world, timeout)
    try:
        return training.evaluate(model, x, y, batch_size=batch_size, runner=trainer, **options)
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
