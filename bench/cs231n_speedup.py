"""Time one CS231n ThreeLayerConvNet training step, pure NumPy vs fastcnn.compat.cs231n.

One step is what the course's Solver does per iteration: `model.loss(X, y)`
(forward, softmax loss, every gradient) for the course's default network --
conv 32 filters 7x7 pad 3 - relu - 2x2 max pool - affine 100 - relu -
affine 10 -- on a batch of 50 3x32x32 images, then the Adam update rule on
every parameter, in float32 and float64. The same model class and parameters
run on three backends in the same process, so the ratios compare like with
like:

  naive   the usual "semi-vectorised" homework solution: a Python loop over
          output positions, each a tensordot over (C, HH, WW) for the whole
          batch; pooling loops over output positions too
  im2col  the course's pure-NumPy fallback (im2col.py): im2col by fancy
          indexing, col2im with np.add.at, reshape-based 2x2 max pooling
  fastcnn fastcnn.compat.cs231n (native conv / pool / affine / relu, and
          optim.adam)

The first two use the course's NumPy Adam, NumPy's BLAS (its own threads) for
their products, and NumPy for ReLU and the loss (fastcnn uses NumPy for the
loss too). Each time is the median of single-step timings after one warm-up
step; the loss-and-gradients part is timed on its own as well. Wall-clock
results are only meaningful on an otherwise idle machine; on a shared one,
--cpu-time with --threads 1 and OPENBLAS_NUM_THREADS=1 compares the work of
one core per backend.

    python bench/cs231n_speedup.py [--repeats 5] [--threads 2] [--skip-naive] [--cpu-time]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import types

import numpy as np

import fastcnn
from fastcnn.compat.cs231n import optim
from fastcnn.compat.cs231n.classifiers.cnn import FASTCNN_LAYERS, ThreeLayerConvNet

# ------------------------------------------------- the pure-NumPy backends


def _affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w) + b, (x, w, b)


def _affine_backward(dout, cache):
    x, w, b = cache
    return dout.dot(w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T.dot(dout), dout.sum(axis=0)


def _relu_forward(x):
    return np.maximum(0, x), x


def _relu_backward(dout, x):
    return dout * (x > 0)


def _softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dx / n


def _naive_conv_forward(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    oh, ow = 1 + (h + 2 * p - hh) // s, 1 + (wd + 2 * p - ww) // s
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.empty((n, f, oh, ow), np.result_type(x, w))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * s : i * s + hh, j * s : j * s + ww]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def _naive_conv_backward(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * s, i * s + hh), slice(j * s, j * s + ww)
            g = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))
    return dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def _naive_pool_forward(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    oh, ow = 1 + (h - ph) // s, 1 + (w - pw) // s
    out = np.empty((n, c, oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * s : i * s + ph, j * s : j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def _naive_pool_backward(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s : i * s + ph, j * s : j * s + pw].reshape(n, c, -1)
            first = window.argmax(axis=2)
            a, b = np.divmod(first, pw)
            nn, cc = np.indices((n, c))
            dx[nn, cc, i * s + a, j * s + b] += dout[:, :, i, j]
    return dx


def _im2col_indices(x_shape, hh, ww, p, s):
    _, c, h, w = x_shape
    oh, ow = (h + 2 * p - hh) // s + 1, (w + 2 * p - ww) // s + 1
    i = np.tile(np.repeat(np.arange(hh), ww), c)[:, None] + s * np.repeat(np.arange(oh), ow)[None]
    j = np.tile(np.arange(ww), hh * c)[:, None] + s * np.tile(np.arange(ow), oh)[None]
    k = np.repeat(np.arange(c), hh * ww)[:, None]
    return k, i, j, oh, ow


def _im2col_conv_forward(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    f, _, hh, ww = w.shape
    k, i, j, oh, ow = _im2col_indices(x.shape, hh, ww, p, s)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = xp[:, k, i, j].transpose(1, 2, 0).reshape(k.shape[0], -1)  # (C*HH*WW, OH*OW*N)
    out = (w.reshape(f, -1).dot(cols) + b[:, None]).reshape(f, oh, ow, x.shape[0])
    return out.transpose(3, 0, 1, 2), (x, w, b, conv_param, cols)


def _im2col_conv_backward(dout, cache):
    x, w, b, conv_param, cols = cache
    s, p = conv_param["stride"], conv_param["pad"]
    f, _, hh, ww = w.shape
    d = dout.transpose(1, 2, 3, 0).reshape(f, -1)
    dw = d.dot(cols.T).reshape(w.shape)
    dcols = w.reshape(f, -1).T.dot(d)
    k, i, j, _, _ = _im2col_indices(x.shape, hh, ww, p, s)
    n, c, h, wd = x.shape
    dxp = np.zeros((n, c, h + 2 * p, wd + 2 * p), dcols.dtype)
    np.add.at(dxp, (slice(None), k, i, j), dcols.reshape(k.shape[0], -1, n).transpose(2, 0, 1))
    return dxp[:, :, p : p + h, p : p + wd], dw, dout.sum(axis=(0, 2, 3))


def _reshape_pool_forward(x, pool_param):
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    n, c, h, w = x.shape
    xr = x.reshape(n, c, h // ph, ph, w // pw, pw)
    out = xr.max(axis=3).max(axis=4)
    return out, (x, xr, out)


def _reshape_pool_backward(dout, cache):
    x, xr, out = cache
    mask = xr == out[:, :, :, None, :, None]
    dxr = np.where(mask, dout[:, :, :, None, :, None], 0)
    dxr /= mask.sum(axis=(3, 5), keepdims=True)  # the course splits ties
    return dxr.reshape(x.shape)


def _adam(w, dw, config=None):
    """The course's Adam as a completed assignment writes it (NumPy)."""
    config = {} if config is None else config
    for key, value in (
        ("learning_rate", 1e-3),
        ("beta1", 0.9),
        ("beta2", 0.999),
        ("epsilon", 1e-8),
        ("t", 0),
    ):
        config.setdefault(key, value)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    lr, beta1, beta2, eps = (config[k] for k in ("learning_rate", "beta1", "beta2", "epsilon"))
    t = config["t"] = config["t"] + 1
    m = config["m"] = beta1 * config["m"] + (1 - beta1) * dw
    v = config["v"] = beta2 * config["v"] + (1 - beta2) * dw**2
    return w - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), config


def _backend(name, conv_f, conv_b, pool_f, pool_b):
    def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
        a, cc = conv_f(x, w, b, conv_param)
        r, rc = _relu_forward(a)
        out, pc = pool_f(r, pool_param)
        return out, (cc, rc, pc)

    def conv_relu_pool_backward(dout, cache):
        cc, rc, pc = cache
        return conv_b(_relu_backward(pool_b(dout, pc), rc), cc)

    def affine_relu_forward(x, w, b):
        a, fc = _affine_forward(x, w, b)
        out, rc = _relu_forward(a)
        return out, (fc, rc)

    def affine_relu_backward(dout, cache):
        fc, rc = cache
        return _affine_backward(_relu_backward(dout, rc), fc)

    return types.SimpleNamespace(
        __name__=name,
        conv_relu_pool_forward=conv_relu_pool_forward,
        conv_relu_pool_backward=conv_relu_pool_backward,
        affine_relu_forward=affine_relu_forward,
        affine_relu_backward=affine_relu_backward,
        affine_forward=_affine_forward,
        affine_backward=_affine_backward,
        softmax_loss=_softmax_loss,
    )


NAIVE = _backend(
    "naive", _naive_conv_forward, _naive_conv_backward, _naive_pool_forward, _naive_pool_backward
)
IM2COL = _backend(
    "im2col", _im2col_conv_forward, _im2col_conv_backward, _reshape_pool_forward, _reshape_pool_backward
)


# ------------------------------------------------------------------- timing


def train_step(model, x, y, update_rule, configs):
    """One iteration of the course's Solver: loss and gradients, then the
    update rule on every parameter."""
    loss, grads = model.loss(x, y)
    for name, w in model.params.items():
        model.params[name], configs[name] = update_rule(w, grads[name], configs.get(name))
    return loss


def median_times_in_turns(steps, repeats, clock=time.perf_counter):
    """Median seconds of each of `steps` (name -> callable) by `clock`, after
    one warm-up call each, the steps taking turns so that a load change hits
    them alike."""
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = clock()
            step()
            times[name].append(clock() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per backend (median)")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="fastcnn threads (default: its own)")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive backend")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time by this process's CPU time instead of the wall clock: steadier on a shared machine, "
        "comparable with --threads 1 and NumPy's BLAS on one thread (OPENBLAS_NUM_THREADS=1)",
    )
    args = parser.parse_args()
    if args.threads:
        fastcnn.set_num_threads(args.threads)

    print(
        f"ThreeLayerConvNet, CS231n defaults (32 filters 7x7, hidden 100, 10 classes, "
        f"weight_scale 1e-3); full step = loss + grads + Adam on every parameter, batch {args.batch} "
        f"of 3x32x32; fastcnn {fastcnn.cpu_info()['isa']}, {fastcnn.get_num_threads()} threads; "
        f"median of {args.repeats} steps by {'CPU time' if args.cpu_time else 'wall clock'}, "
        "backends taking turns"
    )
    print(
        f"{'dtype':8} {'backend':8} {'loss+grads':>11} {'full step':>10} {'before/after':>13} "
        f"{'grad diff vs fastcnn':>21}"
    )
    print(f"{'':8} {'':8} {'ms':>11} {'ms':>10} {'(full step)':>13}")
    backends = {"fastcnn": (FASTCNN_LAYERS, optim.adam), "im2col": (IM2COL, _adam)}
    if not args.skip_naive:
        backends["naive"] = (NAIVE, _adam)
    clock = time.process_time if args.cpu_time else time.perf_counter
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((args.batch, 3, 32, 32)).astype(dtype)
        y = rng.integers(0, 10, args.batch)
        models, steps = {}, {}
        for name, (backend, update_rule) in backends.items():
            np.random.seed(0)  # the same initial parameters for every backend
            model = models[name] = ThreeLayerConvNet(dtype=dtype, backend=backend)
            steps[(name, "grads")] = functools.partial(model.loss, x, y)
            steps[(name, "step")] = functools.partial(train_step, model, x, y, update_rule, {})
        grads = {name: model.loss(x, y)[1] for name, model in models.items()}
        ms = {k: t * 1e3 for k, t in median_times_in_turns(steps, args.repeats, clock).items()}
        for name in backends:
            # largest gradient difference, relative to each gradient's largest entry
            err = max(
                float(
                    np.max(np.abs(grads[name][k] - grads["fastcnn"][k])) / np.max(np.abs(grads["fastcnn"][k]))
                )
                for k in grads[name]
            )
            print(
                f"{np.dtype(dtype).name:8} {name:8} {ms[name, 'grads']:11.1f} {ms[name, 'step']:10.1f} "
                f"{ms[name, 'step'] / ms['fastcnn', 'step']:12.1f}x {err:21.1e}"
            )


if __name__ == "__main__":
    main()
