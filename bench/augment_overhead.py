"""What augmenting a CIFAR-10 batch costs against a training step of the Keras CIFAR model.

The augmentation is the CIFAR recipe (random horizontal flip, then a 32x32
crop of the image padded by 4) and, separately, the Keras tutorial's
RandomFlip + RandomRotation(0.1) + RandomZoom(0.1) stack; the training step
is `train_on_batch` of fastcnn.zoo.cifar_keras (Adam, sparse cross-entropy
on logits). Both are timed in turns (median of each turn's median), on the
current thread count.

    python bench/augment_overhead.py [--batch 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

import fastcnn
from fastcnn import layers as L, zoo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_time  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turn", type=float, default=0.3, help="seconds per turn")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    model = zoo.cifar_keras(seed=0)
    model.compile(**zoo.compile_args("cifar-keras"))
    stacks = {
        "flip + pad-4 crop": [L.RandomFlip("horizontal", seed=0), L.RandomCrop(32, 32, padding=4, seed=0)],
        "flip + rotation + zoom": [
            L.RandomFlip("horizontal", seed=0),
            L.RandomRotation(0.1, seed=0),
            L.RandomZoom(0.1, seed=0),
        ],
    }

    def augmenter(stack):
        def run():
            out = x
            for layer in stack:
                out = layer.forward(out, training=True)
            return out

        return run

    calls = {"training step": lambda: model.train_on_batch(x, y)}
    calls.update({name: augmenter(stack) for name, stack in stacks.items()})
    times = {name: [] for name in calls}
    for r in range(args.rounds):
        for name in calls if r % 2 == 0 else reversed(list(calls)):
            times[name].append(median_time(calls[name], args.turn))
    step = statistics.median(times["training step"])
    print(
        f"CIFAR-10 batch of {args.batch}, {fastcnn.get_num_threads()} threads, {fastcnn.cpu_info()['isa']}\n"
        f"training step of the Keras CIFAR model: {step * 1e3:.2f} ms"
    )
    print("| augmentation | ms per batch | share of a training step |")
    print("|---|---:|---:|")
    for name in stacks:
        t = statistics.median(times[name])
        print(f"| {name} | {t * 1e3:.3f} | {100 * t / step:.1f}% |")


if __name__ == "__main__":
    main()
