"""What Dataset.prefetch gains on a training run: the Keras CIFAR-10 CNN
(fastcnn.zoo.cifar_keras) fit for one epoch on 2,048 images in batches of 64,
augmented in a Dataset.map by fastcnn.augment's native ops, with and without
prefetch(2); the two take turns, median epoch time over the rounds.

Two recipes: the CIFAR one (random flip + pad-4 crop, cheap) and the Keras
tutorial's flip + rotation 0.1 + zoom 0.1 (two bilinear warps per batch).

    python bench/prefetch_gain.py [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastcnn
import fastcnn.augment as A
from fastcnn import data, zoo

RECIPES = {
    "flip + pad-4 crop": lambda x, rng: A.random_crop(
        A.random_flip(x, "horizontal", rng), 32, 32, 4, rng=rng
    ),
    "flip + rotation + zoom": lambda x, rng: A.random_zoom(
        A.random_rotation(A.random_flip(x, "horizontal", rng), 0.1, rng=rng), 0.1, rng=rng
    ),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--images", type=int, default=2048)
    args = parser.parse_args(argv)
    if args.threads:
        fastcnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, args.images)
    model = zoo.cifar_keras(seed=0)
    model.compile(**zoo.compile_args("cifar-keras"))

    def epoch(recipe, prefetch):
        aug_rng = np.random.default_rng(1)
        ds = (
            data.Dataset.from_arrays(x, y)
            .shuffle(seed=0)
            .batch(64)
            .map(lambda xb, yb: (recipe(xb, aug_rng), yb))
        )
        ds = ds.prefetch(2) if prefetch else ds
        start = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        return time.perf_counter() - start

    print(
        f"Keras CIFAR CNN, {args.images // 64} batches of 64, {fastcnn.get_num_threads()} threads, "
        f"{fastcnn.cpu_info()['isa']}, {args.rounds} rounds taking turns"
    )
    print("| augmentation | epoch, no prefetch | epoch, prefetch(2) | gain |")
    print("|---|---:|---:|---:|")
    for name, recipe in RECIPES.items():
        epoch(recipe, False)  # warm-up
        times = {False: [], True: []}
        for r in range(args.rounds):
            for prefetch in (False, True) if r % 2 == 0 else (True, False):
                times[prefetch].append(epoch(recipe, prefetch))
        plain, fetched = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"| {name} | {plain * 1e3:.0f} ms | {fetched * 1e3:.0f} ms | {plain / fetched:.3f}x |", flush=True
        )


if __name__ == "__main__":
    main()
