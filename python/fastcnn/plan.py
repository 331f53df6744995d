"""Inference as one native call per run of native layers: the execution plan.

A model's inference steps (``Sequential._steps(training=False)``: layers,
with BatchNormalization already folded into the convolution or Dense before
it) are lowered, for one input shape and dtype, into segments:

* a run of layers with a native lowering (convolutions, Dense, pools, global
  average pooling, activations, softmax, batch norm; Flatten, Dropout and
  Input only relabel their input) becomes one ``_C.InferencePlan``, which
  runs all of its steps in a single call with the GIL released;
* any other layer (a custom one, or a case the lowering does not cover)
  runs its own Python ``forward`` between segments.

Inside a segment the plan is a graph: each step names the value it reads
and the value it writes. Value 0 is the segment's input array and value 1
the array it returns; every other value lives in one arena owned by the
plan, at an offset chosen here so that a value's memory is reused once its
last reader has run (docs/model_speed.md has the design). The plan reads the
layers' weight arrays in place, so it is rebuilt whenever the model could
have replaced one (see ``InferencePlans.get``).
"""

from __future__ import annotations

import math

import numpy as np

from . import _C, fusion, layers as L, resize
from ._shapes import conv_geometry, pool_geometry

# Elements per value are rounded up to this many, so every value starts on
# a cache line (64 bytes of float32).
_ALIGN = 16


class _Op:
    """One native step: `method` of _C.InferencePlan called with (input, output, *args)."""

    def __init__(self, method, args, out_shape, in_place=False, inputs=None):
        self.method, self.args, self.out_shape, self.in_place = method, args, tuple(out_shape), in_place
        self.inputs = inputs  # indices of the ops whose values it reads (-1: the segment's input)


def _contiguous(a):
    return None if a is None else np.ascontiguousarray(a)


def _dummy(shape):
    """A read-only array of `shape` holding no memory, for the shape checks."""
    return np.broadcast_to(np.zeros((), np.float32), shape)


def _activation_args(act):
    """(name, slope) of an activation layer the native steps apply, or None."""
    kind = type(act)
    if act is None:
        return ("identity", 0.0)
    if kind is L.ReLU:
        return ("relu", 0.0)
    if kind is L.LeakyReLU:
        return ("leaky_relu", act.negative_slope)
    if kind is L.Sigmoid:
        return ("sigmoid", 0.0)
    if kind is L.Tanh:
        return ("tanh", 0.0)
    return None


def _softmax_op(act, shape):
    """The softmax step for `act` on `shape`, if it normalises the last axis."""
    if type(act) is not L.Softmax or act.axis not in (-1, len(shape) - 1):
        return None
    rows = math.prod(shape[:-1])
    return _Op("softmax", (rows, shape[-1]), shape)


def _conv_ops(layer, kernel, bias, act, shape):
    last = layer.data_format == "channels_last"
    d = layer.rank
    first = _dummy(shape)
    if last:
        first = np.moveaxis(first, -1, 1)
    geo = conv_geometry(first, kernel, layer.strides, layer.padding, layer.dilation_rate, layer.groups, d)
    n, c = first.shape[:2]
    hw = geo.in_hw
    x_shape = (n, *hw, c) if last else (n, c, *hw)
    out_shape = geo.out_shape
    if last:
        out_shape = (out_shape[0],) + tuple(out_shape[2:]) + (out_shape[1],)
    w = np.ascontiguousarray(kernel if d == 2 else kernel[:, :, None, :])
    act_args = _activation_args(act)
    softmax = None
    if act_args is None:
        softmax = _softmax_op(act, out_shape)
        if softmax is None:
            return None
        act_args = ("identity", 0.0)
    ops = [_Op("conv2d", (x_shape, w, _contiguous(bias), *geo.native_args, last, *act_args), out_shape)]
    return ops + ([softmax] if softmax else [])


def _transpose_ops(layer, shape):
    """The native step of a Conv2DTranspose / Conv1DTranspose on input `shape` (with its activation)."""
    act_args = _activation_args(layer.act)
    if act_args is None:
        return None
    last = layer.data_format == "channels_last"
    d = layer.rank
    sizes = shape[1:-1] if last else shape[2:]
    pads, extra = layer._geometry(sizes)
    out_shape = (shape[0],) + tuple(layer.output_shape(shape[1:]))
    if d == 1:  # the native 2-D view: H = 1
        pads = ((0, 0),) + tuple(pads)
        y_shape = (out_shape[0], 1) + out_shape[1:] if last else out_shape[:2] + (1,) + out_shape[2:]
        w = np.ascontiguousarray(layer.kernel[:, :, None, :])
        stride, dilation = (1,) + layer.strides, (1,) + layer.dilation_rate
    else:
        y_shape, w = out_shape, np.ascontiguousarray(layer.kernel)
        stride, dilation = layer.strides, layer.dilation_rate
    (pt, pb), (pl, pr) = pads
    bias = _contiguous(layer.bias) if layer.use_bias else None
    args = (y_shape, w, bias, *stride, pt, pb, pl, pr, *dilation, layer.groups, last, *act_args)
    return [_Op("conv_transpose", args, out_shape)]


def _dense_ops(kernel, bias, act, shape):
    if len(shape) != 2 or shape[1] != kernel.shape[0]:
        return None
    out_shape = (shape[0], kernel.shape[1])
    act_args = _activation_args(act)
    softmax = None
    if act_args is None:
        softmax = _softmax_op(act, out_shape)
        if softmax is None:
            return None
        act_args = ("identity", 0.0)
    ops = [_Op("dense", (shape[0], np.ascontiguousarray(kernel), _contiguous(bias), *act_args), out_shape)]
    return ops + ([softmax] if softmax else [])


def _weighted(layer, shape, dtype):
    """Ops of a Conv / Dense layer (its own activation included)."""
    if layer.dtype != dtype:
        return None
    bias = layer.bias if layer.use_bias else None
    if isinstance(layer, L._Conv):
        return _conv_ops(layer, layer.kernel, bias, layer.act, shape)
    return _dense_ops(layer.kernel, bias, layer.act, shape)


def _folded(step, shape, dtype, model_version):
    layer = step.layer
    if layer.dtype != dtype:
        return None
    kernel, bias = step.folded_weights(model_version)
    if isinstance(layer, L._Conv):
        return _conv_ops(layer, kernel, bias, step.act, shape)
    return _dense_ops(kernel, bias, step.act, shape)


def _pool(layer, shape):
    last = layer.data_format == "channels_last"
    first = _dummy(shape)
    if last:
        first = np.moveaxis(first, -1, 1)
    geo = pool_geometry(first, layer.pool_size, layer.strides, layer.padding, False, layer.rank)
    n, c = first.shape[:2]
    out_shape = tuple(layer.output_shape(shape[1:]))
    args = (layer.mode, n, c, *geo.in_hw, *geo.window, *geo.out_hw, False, last)
    return [_Op("pool2d", args, (n,) + out_shape)]


def _resample_ops(layer, shape, dtype):
    """UpSampling2D, ZeroPadding2D and Cropping2D as one native resampling step
    (the index tables of fastcnn.resize)."""
    if layer.dtype != dtype:  # these layers cast to their own dtype
        return None
    last = layer.data_format == "channels_last"
    n, c = shape[0], shape[-1] if last else shape[1]
    h, w = shape[1:3] if last else shape[2:4]
    kind, bilinear = type(layer), False
    if kind is L.UpSampling2D:
        rows, cols = resize._upsample_axes(h, w, layer.size, layer.interpolation, layer.align_corners)
        bilinear = layer.interpolation == "bilinear"
    elif kind is L.ZeroPadding2D:
        (t, b), (left, right) = layer.padding
        rows = resize._Axis(resize._source_index(h, t, b, "constant"))
        cols = resize._Axis(resize._source_index(w, left, right, "constant"))
    else:
        (t, b), (left, right) = layer.cropping
        rows, cols = resize._Axis(np.arange(t, h - b)), resize._Axis(np.arange(left, w - right))
    out_shape = (n,) + tuple(layer.output_shape(shape[1:]))
    return [_Op("resample", (n, c, h, w, *rows.args(), *cols.args(), bilinear, 0.0, last), out_shape)]


def _global_avg(layer, shape):
    if layer.mode != "avg" or layer.data_format != "channels_first":
        return None
    rows = shape[0] * shape[1]
    return [_Op("global_avg_pool", (rows, math.prod(shape[2:])), shape[:2])]


def _batch_norm(layer, act, shape, dtype):
    if layer.dtype != dtype:
        return None
    act_args = _activation_args(act)
    if act_args is None or act_args[0] not in ("identity", "relu", "leaky_relu"):
        return None
    axis = layer._channel_axis(len(shape) - 1) + 1
    c = shape[axis]
    inv_std = 1 / np.sqrt(layer.moving_variance.astype(np.float64) + layer.epsilon)
    gamma = layer.gamma.astype(np.float64) if layer.scale else np.ones(c)
    beta = layer.beta.astype(np.float64) if layer.center else np.zeros(c)
    scale = gamma * inv_std
    shift = beta - layer.moving_mean.astype(np.float64) * scale
    args = (
        math.prod(shape[:axis]),
        c,
        math.prod(shape[axis + 1 :]),
        scale.astype(dtype),
        shift.astype(dtype),
        *act_args,
    )
    return [_Op("batch_norm", args, shape)]


def lower(layer, act, shape, dtype, model_version):
    """The native ops of one inference step on input `shape` (batch first), as
    a list (empty for a relabelling layer), or None when it has no lowering.
    Exact types only: a subclass may have its own forward."""
    kind = type(layer)
    if kind in (L.Flatten, L.Dropout, L.Input) or getattr(kind, "inference_identity", False):
        return []
    if kind is fusion.FoldedBatchNorm:
        return _folded(layer, shape, dtype, model_version)
    if kind is L.BatchNormalization:
        return _batch_norm(layer, act, shape, dtype)
    if act is not None:
        return None
    if kind in (L.Conv1D, L.Conv2D, L.DepthwiseConv2D, L.Dense):
        return _weighted(layer, shape, dtype)
    if kind in (L.Conv2DTranspose, L.Conv1DTranspose):
        return _transpose_ops(layer, shape) if layer.dtype == dtype else None
    if kind in (L.MaxPool2D, L.AvgPool2D, L.MaxPool1D, L.AvgPool1D):
        return _pool(layer, shape)
    if kind in (L.UpSampling2D, L.ZeroPadding2D, L.Cropping2D):
        return _resample_ops(layer, shape, dtype)
    if kind in (L.GlobalAvgPool2D, L.GlobalAvgPool1D):
        return _global_avg(layer, shape)
    if kind is L.Softmax:
        op = _softmax_op(layer, shape)
        return None if op is None else [op]
    act_args = _activation_args(layer)
    if act_args is not None:
        return [_Op("activation", (math.prod(shape), *act_args), shape, in_place=True)]
    return None


def _round_up(n):
    return -(-n // _ALIGN) * _ALIGN


class NativeSegment:
    """Native ops compiled into one _C.InferencePlan for one input shape.

    Op i reads the values of `ops[i].inputs` (op indices, -1 for the
    segment's input; by default the op before it). Each value gets arena
    memory first-fit among the values still to be read; an in-place op
    (activation, add) writes over its first input when no later op reads
    that. The last op writes the array `run` returns.
    """

    def __init__(self, ops, in_shape, out_shape, dtype):
        self.in_shape, self.out_shape, self.dtype = tuple(in_shape), tuple(out_shape), np.dtype(dtype)
        n = len(ops)
        reads = [op.inputs if op.inputs is not None else [i - 1] for i, op in enumerate(ops)]
        sizes = [math.prod(op.out_shape) for op in ops]
        last_read = {}  # value (op index, -1 the input) -> the last op reading it
        for i, inputs in enumerate(reads):
            for j in inputs:
                last_read[j] = i
        storage = list(range(n))  # the op whose arena memory each op's value uses
        for i, op in enumerate(ops):
            first = reads[i][0]
            if op.in_place and first >= 0 and i < n - 1 and last_read[first] == i:
                storage[i] = storage[first]
        end = {}  # storage -> the last op reading any value it holds
        for v in range(n):
            end[storage[v]] = max(end.get(storage[v], v), last_read.get(v, v))
        offsets, live = {}, []  # live: (offset, size, storage) in the arena
        for i in range(n - 1):  # the last op writes the output array
            live = [v for v in live if end[v[2]] >= i]
            if storage[i] != i:
                continue
            offsets[i] = self._place(_round_up(sizes[i]), live)
            live.append((offsets[i], _round_up(sizes[i]), i))
        arena = max((offsets[i] + _round_up(sizes[i]) for i in offsets), default=0)
        self.plan = _C.InferencePlan(self.dtype.name, math.prod(in_shape), sizes[-1], arena)
        ids = {i: self.plan.value(offsets[i], sizes[i]) for i in offsets}
        for i, op in enumerate(ops):
            sources = [0 if j < 0 else ids[storage[j]] for j in reads[i]]
            target = 1 if i == n - 1 else ids[storage[i]]
            getattr(self.plan, op.method)(*sources, target, *op.args)
        self.arena_bytes = arena * self.dtype.itemsize

    @staticmethod
    def _place(size, live):
        """The lowest offset where `size` elements overlap no live value."""
        offset = 0
        for start, length, _ in sorted(live):
            if offset + size <= start:
                break
            offset = max(offset, start + length)
        return offset

    def run(self, x, out=None):
        x = np.require(np.asarray(x, dtype=self.dtype), requirements=("C", "A"))
        if out is None:
            out = np.empty(self.out_shape, self.dtype)
        self.plan.run(x, out)
        return out


def run_step(layer, act, training, model_version, x):
    """One step of Sequential's step list by its Python forward: a folded
    Conv/Dense + BN, a layer, or a BatchNormalization with its activation."""
    if type(layer) is fusion.FoldedBatchNorm:
        return layer.forward(x, training=False, model_version=model_version)
    if act is None:
        return layer.forward(x, training=training)
    slope = getattr(act, "negative_slope", 0.0)
    return layer.forward(
        x, training=training, activation="relu" if slope == 0 else "leaky_relu", negative_slope=slope
    )


class PythonStep:
    """A step without a native lowering, run by its Python forward."""

    def __init__(self, layer, act, model_version, in_shape):
        self.layer, self.act, self.model_version = layer, act, model_version
        self.in_shape = in_shape  # after relabelling steps (Flatten) before it

    def run(self, x, out=None):
        if np.shape(x) != self.in_shape:
            x = np.reshape(x, self.in_shape)
        y = run_step(self.layer, self.act, False, self.model_version, x)
        if out is not None:
            out[...] = y
            return out
        return y


class Plan:
    """A model's inference steps for one input shape and dtype, as segments."""

    def __init__(self, steps, in_shape, dtype, model_version):
        self.segments = []
        shape = start = tuple(in_shape)
        # The data's dtype as the Python path would have it: layers with
        # weights cast to theirs, the others keep the float dtype they get.
        dtype = np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.dtype(np.float32)
        ops, seg_dtype, known = [], None, True

        def close():
            if ops:
                self.segments.append(NativeSegment(ops, start, shape, seg_dtype))
                ops.clear()

        for layer, act in steps:
            owner = getattr(layer, "layer", layer)  # a folded step's Conv / Dense
            weighted = bool(getattr(owner, "param_names", ()))
            if weighted:
                dtype, known = np.dtype(owner.dtype), True
            out_shape = (shape[0],) + tuple(owner.output_shape(shape[1:]))
            # After a Python step the data's dtype is known again at the next weighted layer.
            lowered = lower(layer, act, shape, dtype, model_version)
            if lowered and not known:
                lowered = None
            if lowered is None or (ops and dtype != seg_dtype):
                close()
            if lowered is None:
                self.segments.append(PythonStep(layer, act, model_version, shape))
                known = weighted
                shape = start = out_shape
                continue
            if not ops:
                start, seg_dtype = shape, dtype
            ops.extend(lowered)
            shape = out_shape
        close()
        self.out_shape = shape

    @property
    def native_steps(self):
        return sum(s.plan.steps for s in self.segments if isinstance(s, NativeSegment))

    @property
    def arena_bytes(self):
        return sum(getattr(s, "arena_bytes", 0) for s in self.segments)

    def run(self, x, out=None):
        segments = self.segments
        for i, segment in enumerate(segments):
            x = segment.run(x, out if i == len(segments) - 1 else None)
        if np.shape(x) != self.out_shape:  # relabelling steps at the end
            x = np.reshape(x, self.out_shape)
            if out is not None:
                out[...] = x
                return out
        return x


def lower_graph(model, in_shape, dtype, model_version):
    """A NativeSegment running a graph Model (one input, one output) on in_shape,
    or None when a node has no lowering. Conv/Dense + BatchNormalization (+ ReLU)
    fold into one convolution and Add + ReLU run as one pass, where the tensor
    between them has no other reader."""
    if model._multi_in or model._multi_out:
        return None
    dtype = np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.dtype(np.float32)
    if any(layer.dtype != dtype for layer in model.layers if layer.param_names):
        return None
    readers = {}
    for node in model._nodes:
        for t in node.inputs:
            readers.setdefault(id(t), []).append(node)
    output = model._outputs[0]
    readers.setdefault(id(output), []).append(None)  # the model's output is read too

    def sole_reader(tensor, kinds):
        found = readers.get(id(tensor), [])
        if len(found) == 1 and found[0] is not None and type(found[0].layer) in kinds and not found[0].listed:
            return found[0]
        return None

    produced = {id(model._inputs[0]): -1}  # tensor -> the op whose value holds it
    shapes = {id(model._inputs[0]): tuple(in_shape)}
    fused, ops = set(), []
    activations = (L.ReLU, L.LeakyReLU)
    for k, node in enumerate(model._nodes):
        if id(node) in fused:
            continue
        layer, out = node.layer, node.output
        shape = shapes[id(node.inputs[0])]
        sources = [produced[id(t)] for t in node.inputs]
        lowered = None
        weighted = type(layer) in (L.Conv1D, L.Conv2D, L.DepthwiseConv2D, L.Dense)
        bn = sole_reader(out, (L.BatchNormalization,)) if weighted else None
        if bn is not None and fusion.can_fold(layer, bn.layer):
            act = sole_reader(bn.output, activations)
            act_layer = act.layer if act else None
            folded = model._folded.get(k)
            if (
                folded is None
                or folded.layer is not layer
                or folded.bn is not bn.layer
                or folded.act is not act_layer
            ):
                folded = model._folded[k] = fusion.FoldedBatchNorm(layer, bn.layer, act_layer)
            lowered = lower(folded, None, shape, dtype, model_version)
            fused.add(id(bn))
            out = bn.output
            if act is not None:
                fused.add(id(act))
                out = act.output
        elif type(layer) is L.Add and len(node.inputs) == 2:
            act = sole_reader(out, activations)
            if act is not None:
                fused.add(id(act))
                out = act.output
            args = (math.prod(shape), *_activation_args(act.layer if act else None))
            lowered = [_Op("add", args, shape, in_place=True, inputs=sources)]
        elif type(layer) is L.Concatenate and len(node.inputs) == 2:
            a, b = (shapes[id(t)] for t in node.inputs)
            axis = layer._sample_axis(len(a) - 1) + 1
            rows = math.prod(a[:axis])
            args = (rows, math.prod(a[axis:]), math.prod(b[axis:]))
            lowered = [_Op("concat", args, (a[0],) + tuple(out.shape), inputs=sources)]
        elif type(layer) is L.BatchNormalization and sole_reader(out, activations) is not None:
            act = sole_reader(out, activations)
            lowered = lower(layer, act.layer, shape, dtype, model_version)
            if lowered is not None:
                fused.add(id(act))
                out = act.output
        elif not node.listed:
            lowered = lower(layer, None, shape, dtype, model_version)
        if lowered is None:
            return None
        if lowered and lowered[0].inputs is None:
            lowered[0].inputs = sources[:1]
        ops.extend(lowered)
        produced[id(out)] = len(ops) - 1 if lowered else produced[id(node.inputs[0])]
        shapes[id(out)] = (shape[0],) + tuple(out.shape)
    if not ops or produced[id(output)] != len(ops) - 1:
        return None
    return NativeSegment(ops, in_shape, shapes[id(output)], dtype)


class InferencePlans:
    """A model's plans by input shape and dtype, rebuilt when its weights may
    have changed: the steps list (rebuilt when layers change), the model's
    weights version (bumped by training forwards and set_weights), and the
    identity of every weight and state array (a layer's `kernel` may be
    assigned a new array). Writing into a weight array in place is seen by
    the plan (it reads the arrays), except where folding copied them."""

    MAX_PLANS = 4
    # A plan whose arena passes this is used once and not kept.
    MAX_KEPT_ARENA_BYTES = 64 << 20

    def __init__(self):
        self._plans = {}
        self._owners_for = None, ()

    def _arrays(self, steps):
        """Every weight and state array the steps read, in a fixed order."""
        if self._owners_for[0] is not steps:
            owners = []
            for layer, act in steps:
                for one in (getattr(layer, "layer", None), getattr(layer, "bn", None), layer, act):
                    if one is not None and hasattr(one, "param_names"):
                        owners.extend((one, n) for n in one.param_names + one.state_names)
            self._owners_for = steps, tuple(owners)
        return tuple(getattr(layer, name, None) for layer, name in self._owners_for[1])

    def get(self, steps, x, model_version, build=None):
        """The plan for steps on x's shape and dtype (built, or reused when
        the steps, the model's weights version and every array are the same).
        `build()` makes it instead of Plan (graph models); it may return None
        (no plan: kept too, so the lowering is not retried every call)."""
        arrays = self._arrays(steps)
        key = (x.shape, x.dtype.str, model_version)
        kept = self._plans.get(key)
        if (
            kept is not None
            and kept[0] is steps
            and len(kept[1]) == len(arrays)
            and all(a is b for a, b in zip(kept[1], arrays))
        ):
            return kept[2]
        plan = Plan(steps, x.shape, x.dtype, model_version) if build is None else build()
        if plan is None or plan.arena_bytes <= self.MAX_KEPT_ARENA_BYTES:
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.clear()
            # the arrays are held, so no new array can take one's place unseen
            self._plans[key] = (steps, arrays, plan)
        return plan
