"""Whole models: a training step, inference throughput and batch-1 latency,
fastcnn against PyTorch (same architecture, same weights, same batch), in
one process with turns interleaved.

Models: the tutorials' CNNs of `fastcnn.zoo` (PyTorch MNIST, Keras MNIST,
Keras CIFAR-10, the Fashion-MNIST BatchNorm net), a VGG-style CIFAR net
(6 conv3x3 64-128-256, each with BatchNorm + ReLU) and the CIFAR ResNet-20
(a graph model: skip connections). The PyTorch twin of each
fastcnn model is built layer by layer and takes fastcnn's weights, so both
compute the same function (checked: outputs compared before timing).

Prints, per model: ms per training step (Adam, the batch size of the
tutorial), images/s of inference at batch 256, batch-1 latency, the ratios
(torch time / fastcnn time: > 1 means fastcnn is faster), and what a
steady-state training step allocates: new native memory (results of 1 MiB
and more that found no recycled block: `output_cache_info()['fresh_bytes']`)
and the Python peak (tracemalloc over one step: the NumPy arrays below
1 MiB), next to the process' peak RSS.

    python bench/models.py [--threads 2] [--rounds 3] [--quick] [--models a,b]

With onnxruntime installed (`pip install onnx onnxruntime`, optional), the
PyTorch twin is exported to ONNX (TorchScript exporter) and its inference
is timed too, on the same threads; the ratios against it are printed
(ort time / fastcnn time).
"""

from __future__ import annotations

import argparse
import io
import math
import resource
import statistics
import sys
import tracemalloc

import numpy as np

import fastcnn
from fastcnn import layers as L, losses, optimizers, zoo

from timing import median_time


def vgg_cifar(seed=0):
    """6 conv3x3 (64, 64, 128, 128, 256, 256) each + BN + ReLU, a 2x2 pool after
    every pair, global average pool, Dense 10."""
    s = iter(range(seed * 100, seed * 100 + 100))
    stack = [L.Input((3, 32, 32))]
    for i, filters in enumerate((64, 64, 128, 128, 256, 256)):
        stack += [
            L.Conv2D(filters, 3, padding="same", use_bias=False, seed=next(s)),
            L.BatchNormalization(),
            L.ReLU(),
        ]
        if i % 2:
            stack.append(L.MaxPool2D(2))
    stack += [L.GlobalAvgPool2D(), L.Dense(10, seed=next(s))]
    return fastcnn.Sequential(stack, name="vgg_cifar")


MODELS = {  # name -> (builder, training batch size)
    "mnist_pytorch": (zoo.mnist_pytorch, 64),
    "mnist_keras": (zoo.mnist_keras, 32),
    "cifar_keras": (zoo.cifar_keras, 32),
    "fashion_bn": (zoo.fashion_bn, 64),
    "vgg_cifar_bn": (vgg_cifar, 64),
    "resnet20": (zoo.resnet20, 128),
}


# ------------------------------------------------------------------ torch twin


def torch_twin(model):
    """A torch module computing what the fastcnn model computes, with its weights:
    nn.Sequential for a Sequential, a module walking the same graph for a Model."""
    from torch import nn

    if isinstance(model, fastcnn.Model):
        return GraphTwin(model)
    return nn.Sequential(*[m for layer in model.layers for m in layer_modules(layer)])


def layer_modules(layer):
    """The torch modules of one fastcnn layer (its activation included)."""
    import torch
    from torch import nn

    kind = type(layer).__name__
    if kind == "Conv2D":
        pad = layer.padding if isinstance(layer.padding, (int, str)) else tuple(layer.padding)
        conv = nn.Conv2d(
            layer.kernel.shape[1] * layer.groups,
            layer.filters,
            layer.kernel_size,
            stride=layer.strides,
            padding=pad,
            dilation=layer.dilation_rate,
            groups=layer.groups,
            bias=layer.use_bias,
        )
        return _weighted(conv, layer.kernel, layer)
    if kind == "Dense":
        lin = nn.Linear(layer.kernel.shape[0], layer.units, bias=layer.use_bias)
        return _weighted(lin, layer.kernel.T, layer)
    if kind == "BatchNormalization":
        bn = nn.BatchNorm2d(len(layer.gamma), eps=layer.epsilon, momentum=1 - layer.momentum)
        bn.weight.data = torch.from_numpy(layer.gamma.copy())
        bn.bias.data = torch.from_numpy(layer.beta.copy())
        bn.running_mean.data = torch.from_numpy(layer.moving_mean.copy())
        bn.running_var.data = torch.from_numpy(layer.moving_variance.copy())
        return [bn]
    simple = {
        "ReLU": lambda: [nn.ReLU()],
        "MaxPool2D": lambda: [nn.MaxPool2d(layer.pool_size, layer.strides)],
        "Flatten": lambda: [nn.Flatten()],
        "Dropout": lambda: [nn.Dropout(layer.rate)],
        "GlobalAvgPool2D": lambda: [nn.AdaptiveAvgPool2d(1), nn.Flatten()],
    }
    if kind not in simple:
        raise ValueError(f"no PyTorch twin for {kind}")
    return simple[kind]()


def _graph_twin_class():
    from torch import nn

    class GraphTwin(nn.Module):
        """The fastcnn Model's nodes in its run order; Add sums, the rest run their layer's modules."""

        def __init__(self, model):
            super().__init__()
            self.layer_modules = nn.ModuleDict(
                {
                    layer.name: nn.Sequential(*layer_modules(layer))
                    for layer in model.layers
                    if type(layer).__name__ != "Add"
                }
            )
            where = {id(t): ("input", 0) for t in model._inputs}
            self.nodes = []
            for j, node in enumerate(model._nodes):
                self.nodes.append(
                    (node.layer.name, type(node.layer).__name__, [where[id(t)] for t in node.inputs])
                )
                where[id(node.output)] = ("node", j)
            self.output = where[id(model._outputs[0])]

        def forward(self, x):
            made = []

            def value(ref):
                return x if ref[0] == "input" else made[ref[1]]

            for name, kind, refs in self.nodes:
                args = [value(r) for r in refs]
                made.append(args[0] + args[1] if kind == "Add" else self.layer_modules[name](args[0]))
            return value(self.output)

    return GraphTwin


def GraphTwin(model):  # noqa: N802 - builds the class on first use (torch is optional)
    return _graph_twin_class()(model)


def _weighted(module, weight, layer):
    """module holding weight and layer's bias, then layer's activation (if any)."""
    import torch

    module.weight.data = torch.from_numpy(np.ascontiguousarray(weight).copy())
    if layer.use_bias:
        module.bias.data = torch.from_numpy(layer.bias.copy())
    return [module] + ([_torch_activation(layer.activation)] if layer.activation else [])


def _torch_activation(name):
    from torch import nn

    return {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[name]


def ort_session(twin, shape, threads):
    """An onnxruntime session of the twin (eval mode), or None without onnxruntime."""
    try:
        import onnxruntime as ort
        import torch
    except ImportError:
        return None
    buf = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            twin.eval(),
            torch.zeros((1,) + tuple(shape)),
            buf,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
            dynamo=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


def bench_model(name, rounds, turn, threads):
    import torch

    build, batch = MODELS[name]
    rng = np.random.default_rng(0)
    model = build(seed=0)
    model.compile(optimizers.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[])
    twin = torch_twin(model)
    shape = model.input_shape
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch)
    x256 = rng.standard_normal((256,) + shape).astype(np.float32)
    x1 = x256[:1].copy()

    twin.eval()
    with torch.no_grad():
        ref = twin(torch.from_numpy(x256[:8])).numpy()
    got = model.predict(x256[:8], batch_size=8)
    agree = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))

    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    t256, t1 = torch.from_numpy(x256), torch.from_numpy(x1)

    def torch_step():
        twin.train()
        opt.zero_grad()
        loss_fn(twin(tx), ty).backward()
        opt.step()

    def torch_infer(t):
        twin.eval()
        with torch.no_grad():
            twin(t)

    session = ort_session(twin, shape, threads)
    if session is not None:
        ort_out = session.run(None, {"x": x256[:8]})[0]
        agree = max(agree, float(np.max(np.abs(ort_out - ref)) / max(1.0, float(np.max(np.abs(ref))))))

    ours = {
        "step": lambda: model.train_on_batch(x, y),
        "b256": lambda: model.predict(x256, batch_size=256),
        "b1": lambda: model.predict(x1, batch_size=1),
    }
    theirs = {"step": torch_step, "b256": lambda: torch_infer(t256), "b1": lambda: torch_infer(t1)}
    onnx = (
        {}
        if session is None
        else {"b256": lambda: session.run(None, {"x": x256}), "b1": lambda: session.run(None, {"x": x1})}
    )
    times = {k: ([], [], []) for k in ours}
    for _ in range(rounds):
        for key in ours:  # turns interleaved
            times[key][0].append(median_time(ours[key], turn))
            times[key][1].append(median_time(theirs[key], turn))
            if key in onnx:
                times[key][2].append(median_time(onnx[key], turn))
    best = {k: (min(a), min(b)) for k, (a, b, _) in times.items()}
    best_ort = {k: min(c) for k, (_, _, c) in times.items() if c}

    ours["step"]()
    fresh = fastcnn.output_cache_info()["fresh_bytes"]
    tracemalloc.start()
    ours["step"]()
    step_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    fresh = fastcnn.output_cache_info()["fresh_bytes"] - fresh
    return {
        "name": name,
        "batch": batch,
        "agree": agree,
        "best": best,
        "ort": best_ort,
        "step_peak": step_peak,
        "fresh": fresh,
        "batch_bytes": x.nbytes,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turn", type=float, default=0.5, help="seconds per turn")
    parser.add_argument("--quick", action="store_true", help="1 round, short turns")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        sys.exit("bench/models.py needs PyTorch: pip install torch")
    if args.quick:
        args.rounds, args.turn = 1, 0.2
    fastcnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(
        f"# fastcnn {fastcnn.__version__} ({fastcnn.cpu_info()['isa']}) vs torch "
        f"{torch.__version__}, {args.threads} threads, {fastcnn.cpu_info()['cpu']}, "
        f"best of {args.rounds} interleaved rounds"
    )
    print(
        "| model | train step ms fastcnn / torch (x) | inference b256 img/s fastcnn / torch / ort "
        "(x torch, x ort) | batch-1 ms fastcnn / torch / ort (x torch, x ort) "
        "| steady step: new native memory, Python peak | outputs agree |"
    )
    print("|---|---|---|---|---|---|")
    ratios = {"step": [], "b256": [], "b1": [], "ort_b256": [], "ort_b1": []}

    def ort_text(r, key, fmt):
        return f" / {fmt(r['ort'][key])}" if key in r["ort"] else " / -"

    def ort_ratio(r, key, ours):
        return f", {r['ort'][key] / ours:.2f}x" if key in r["ort"] else ""

    for name in args.models.split(","):
        r = bench_model(name, args.rounds, args.turn, args.threads)
        (s_ours, s_torch), (i_ours, i_torch), (l_ours, l_torch) = (
            r["best"][k] for k in ("step", "b256", "b1")
        )
        for key, (a, b) in r["best"].items():
            ratios[key].append(b / a)
        for key in r["ort"]:
            ratios["ort_" + key].append(r["ort"][key] / r["best"][key][0])
        print(
            f"| {name} bs{r['batch']} | {s_ours * 1e3:.1f} / {s_torch * 1e3:.1f} ({s_torch / s_ours:.2f}x) "
            f"| {256 / i_ours:,.0f} / {256 / i_torch:,.0f}{ort_text(r, 'b256', lambda t: f'{256 / t:,.0f}')} "
            f"({i_torch / i_ours:.2f}x{ort_ratio(r, 'b256', i_ours)}) "
            f"| {l_ours * 1e3:.2f} / {l_torch * 1e3:.2f}{ort_text(r, 'b1', lambda t: f'{t * 1e3:.2f}')} "
            f"({l_torch / l_ours:.2f}x{ort_ratio(r, 'b1', l_ours)}) "
            f"| {r['fresh'] / 2**20:.1f} MiB, {r['step_peak'] / 2**20:.1f} MiB "
            f"({r['step_peak'] / r['batch_bytes']:.1f}x the batch) "
            f"| {r['agree']:.1e} |",
            flush=True,
        )
    geo = {k: math.exp(statistics.fmean(math.log(v) for v in vals)) for k, vals in ratios.items() if vals}
    line = (
        f"\ngeometric mean of torch / fastcnn: training {geo['step']:.2f}x, inference b256 "
        f"{geo['b256']:.2f}x, batch-1 {geo['b1']:.2f}x"
    )
    if "ort_b256" in geo:
        line += (
            f"; onnxruntime / fastcnn: inference b256 {geo['ort_b256']:.2f}x, batch-1 {geo['ort_b1']:.2f}x"
        )
    print(line + f"; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
