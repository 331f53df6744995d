"""Run by tests/model/test_distributed.py, under mpirun or alone.

    python train_small.py OUT.npz BATCH [--mode ok|raise|...] [--steps 20] [--bucket-mb 4]
                          [--graph] [--iterable]

Trains a small float64 conv model (no dropout, no BatchNorm) on fixed random data
with `fit(distributed=True)` and rank 0 writes the final weights, the history
(every logged key, as history/<key>) and the largest weight difference between
the ranks to OUT.npz. --graph: a fastcnn.Model with two outputs (classes with
accuracy and precision, and a regression); --iterable: each rank trains on a list
of batches of its own rank-strided shard, without shuffling.
"""

import argparse
import sys
import time

import numpy as np

import fastcnn
from fastcnn import Sequential, distributed, layers as L, losses, optimizers

N_SAMPLES = 640


def build_model(bn=False):
    f64 = dict(dtype="float64")
    model = Sequential(
        [
            L.Input((1, 8, 8), **f64),
            L.Conv2D(4, 3, padding="same", activation="relu", seed=1, **f64),
        ]
        + ([L.BatchNormalization(**f64), L.ReLU(**f64)] if bn else [])  # BN + ReLU run fused
        + [
            L.MaxPool2D(2, **f64),
            L.Conv2D(6, 3, activation="relu", seed=2, **f64),
            L.Flatten(**f64),
            L.Dense(10, seed=3, **f64),
        ]
    )
    model.compile(
        optimizers.Adam(learning_rate=1e-2),
        losses.SparseCategoricalCrossentropy(from_logits=True),
        ["accuracy"],
    )
    return model


def build_graph():
    f64 = dict(dtype="float64")
    inputs = fastcnn.Input((1, 8, 8), dtype="float64")
    h = L.Conv2D(4, 3, padding="same", activation="relu", seed=1, **f64)(inputs)
    h = L.Flatten(**f64)(L.MaxPool2D(2, **f64)(h))
    classes = L.Dense(10, seed=3, name="classes", **f64)(h)
    value = L.Dense(1, seed=4, name="value", **f64)(L.Dense(5, activation="tanh", seed=5, **f64)(h))
    model = fastcnn.Model(inputs, [classes, value])
    model.compile(
        optimizers.Adam(learning_rate=1e-2),
        [losses.SparseCategoricalCrossentropy(from_logits=True), "mse"],
        metrics=[["accuracy", "precision"], None],
        loss_weights=[1.0, 0.5],
    )
    return model


def make_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N_SAMPLES, 1, 8, 8))
    y = (x[:, 0, 2:6, 2:6].sum(axis=(1, 2)) * 3).astype(np.int64) % 10
    return x, y


def _take(a, part):
    """a[part], or [b[part] for b in a] for the targets of several outputs."""
    return [b[part] for b in a] if isinstance(a, list) else a[part]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("batch", type=int)
    parser.add_argument(
        "--mode", default="ok", choices=["ok", "raise", "raise_backward", "hang", "abort", "mismatch", "stop"]
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--bn", action="store_true", help="add a BatchNormalization layer")
    parser.add_argument("--checkpoint", default=None, help="fit(checkpoint=...)")
    parser.add_argument("--bucket-mb", type=float, default=distributed.DEFAULT_BUCKET_MB)
    parser.add_argument("--graph", action="store_true", help="a two-output fastcnn.Model")
    parser.add_argument("--iterable", action="store_true", help="a list of batches of this rank's shard")
    args = parser.parse_args()
    fastcnn.set_num_threads(1)
    world = distributed.get_world()
    model = build_graph() if args.graph else build_model(args.bn)
    x, y = make_data()
    if args.graph:
        y = [y, x[:, 0, 3:5, 3:5].mean(axis=(1, 2))[:, None]]
    global_batch = args.batch * world.size
    steps_per_epoch = N_SAMPLES // global_batch
    epochs = args.steps // steps_per_epoch

    if args.mode in ("raise", "hang"):
        calls = [0]
        forward = model._forward

        def failing_forward(xb, training):
            calls[0] += 1
            if world.rank == world.size - 1 and calls[0] == 3:
                if args.mode == "raise":
                    raise ValueError("injected failure on the last rank")
                time.sleep(600)  # a hard hang: only the watchdog helps
            return forward(xb, training)

        model._forward = failing_forward
    if args.mode == "raise_backward":  # after the Dense bucket's Iallreduce started
        conv = model.layers[0]
        backward = conv.backward

        def failing_backward(dout):
            if world.rank == world.size - 1 and model.optimizer.iterations == 2:
                raise ValueError("injected failure in backward on the last rank")
            return backward(dout)

        conv.backward = failing_backward
    if args.mode == "mismatch" and world.rank == 1:  # not the same data on every rank
        x, y = x[:-2], y[:-2]
    callbacks = []
    if args.mode == "abort":  # an exception outside a step, rank 0 only

        class Fail:
            def on_epoch_end(self, epoch, logs):
                if world.rank == 0:
                    raise RuntimeError("callback failed on rank 0 only")

        callbacks.append(Fail())
    if args.mode == "stop":  # the last rank alone asks to stop after the 3rd batch

        def stop_after_third(batch, logs):
            if world.rank == world.size - 1 and batch == 2:
                model.stop_training = True

        callbacks.append(fastcnn.callbacks.LambdaCallback(on_train_batch_end=stop_after_third))

    data = dict(x=x, y=y, shuffle=True)
    if args.iterable:
        shard = slice(world.rank, None, world.size)
        batches = [
            (_take(x, shard)[i : i + args.batch], _take(_take(y, shard), slice(i, i + args.batch)))
            for i in range(0, N_SAMPLES // world.size, args.batch)
        ]
        data = dict(x=batches, y=None, shuffle=False)
    history = distributed.fit(
        model,
        data["x"],
        data["y"],
        shuffle=data["shuffle"],
        batch_size=args.batch,
        epochs=epochs,
        seed=7,
        verbose=0,
        callbacks=callbacks,
        timeout=args.timeout,
        checkpoint=args.checkpoint,
        bucket_mb=args.bucket_mb,
    )
    weights = model.get_weights()
    flat = np.concatenate([w.ravel() for w in weights])
    if world.size > 1:
        other = flat.copy()
        world.comm.Bcast(other, root=0)
        diff = np.array([np.max(np.abs(other - flat))])
        world.comm.Allreduce(distributed._import_mpi().IN_PLACE, diff, op=distributed._import_mpi().MAX)
        max_rank_diff = float(diff[0])
    else:
        max_rank_diff = 0.0
    if world.rank == 0:
        np.savez(
            args.out,
            *weights,
            loss=np.array(history.history["loss"]),
            **{"history/" + k: np.array(v) for k, v in history.history.items()},
            max_rank_diff=max_rank_diff,
            steps=history.distributed.get("steps", -1),
            iterations=model.optimizer.iterations,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
