"""Load weights trained in PyTorch or Keras into a fastcnn model.

    model = Sequential([...])                    # the same architecture, built
    from_torch_state_dict(model, torch_model.state_dict())
    from_keras_weights(model, keras_model.get_weights())   # Sequential or graph Model

Both walk the model's layers that hold weights (Conv1D, Conv2D, Dense,
BatchNormalization), in order, and pair them with the other framework's
layers in the order their weights are listed; layers without weights
(pools, Flatten, Dropout, activations) are skipped on both sides. Every
shape is checked before anything is written: on a mismatch a ValueError
names the fastcnn layer, the source entry and both shapes, and the model is
left unchanged. Values are cast to each layer's dtype.

Layouts (fastcnn <- PyTorch | Keras channels_last)
--------------------------------------------------
* Conv2D kernel (O, I/groups, KH, KW) <- weight as is | kernel (KH, KW, I/groups, O)
* Conv1D kernel (O, I/groups, K)      <- weight as is | kernel (K, I/groups, O)
* Conv2DTranspose kernel (I, O, KH, KW) <- (Keras only) kernel (KH, KW, O, I); Conv1DTranspose likewise
* DepthwiseConv2D kernel (C*M, 1, KH, KW) <- (Keras only) depthwise_kernel (KH, KW, C, M);
  SeparableConv2D: that, then the pointwise kernel as a 1x1 Conv2D's, then the bias
* Dense kernel (in, out)              <- weight (out, in) transposed | kernel as is
* BatchNormalization gamma, beta, moving_mean, moving_variance
      <- weight, bias, running_mean, running_var (num_batches_tracked ignored)
       | gamma, beta, moving_mean, moving_variance
* biases as they are.

Flatten: fastcnn flattens channels-first (C, H, W) in C order, exactly as
`torch.flatten` does on NCHW, so PyTorch's Linear after a flatten needs no
change. Keras flattens channels-last (H, W, C): the first Dense after a
Flatten of a (C, H, W) or (C, L) tensor (and any BatchNormalization between
them) has its input rows reordered so that row c*H*W + h*W + w of our kernel
is Keras' row h*W*C + w*C + c. Pass `channels_last=False` for a Keras model
built with data_format="channels_first".

Not carried over (architecture, not weights): BatchNorm's epsilon and
momentum -- PyTorch's defaults are eps=1e-5, momentum=0.1, which is
fastcnn's `BatchNormalization(epsilon=1e-5, momentum=0.9)`; Keras' defaults
are fastcnn's. Inputs stay channels-first: give a Keras-trained model
`x.transpose(0, 3, 1, 2)` of its NHWC data.
"""

from __future__ import annotations

import math

import numpy as np

from . import layers as L

__all__ = ["from_torch_state_dict", "from_keras_weights"]

_TORCH_IGNORED = ("num_batches_tracked",)


def _model_layers(model):
    """The model's layers (a Sequential, or any sequence of layers), checked
    to be built; returns every layer (weights or not)."""
    layers = list(getattr(model, "layers", model))
    for layer in layers:
        if not isinstance(layer, L.Layer):
            raise TypeError(f"expected fastcnn layers, got {type(layer).__name__}")
        if (layer.param_names or layer.state_names) and not layer.built:
            raise ValueError(
                f"layer '{layer.name}' is not built: build the model first "
                f"(start it with layers.Input(shape) or call model.build(shape))"
            )
    return layers


def _to_numpy(value, where):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected a numeric array, got dtype {value.dtype}")
    return value


def _check(layer, name, got_shape, source):
    want = getattr(layer, name).shape
    if tuple(got_shape) != want:
        raise ValueError(
            f"layer '{layer.name}' ({type(layer).__name__}): {name} must have "
            f"shape {want}, got {tuple(got_shape)} from {source}"
        )


def _assign(planned):
    """Write (layer, name, array) triples, after every check has passed."""
    for layer, name, value in planned:
        setattr(layer, name, np.array(value, dtype=layer.dtype))


# ---------------------------------------------------------------------- PyTorch


def _torch_modules(state_dict):
    """state_dict entries grouped by module prefix, in order: [(prefix, {leaf: array})]."""
    modules = []
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _TORCH_IGNORED:
            continue
        if not modules or modules[-1][0] != prefix:
            modules.append((prefix, {}))
        modules[-1][1][leaf] = _to_numpy(value, f"state_dict[{key!r}]")
    return modules


def _torch_kind(prefix, tensors):
    where = f"PyTorch module '{prefix}'"
    if "running_mean" in tensors:
        return "batchnorm"
    weight = tensors.get("weight")
    if weight is None or weight.ndim not in (2, 3, 4):
        shapes = {k: v.shape for k, v in tensors.items()}
        raise ValueError(
            f"{where} with {shapes} is not a Conv1d, Conv2d, Linear or BatchNorm "
            f"layer; fastcnn cannot load it"
        )
    return {2: "linear", 3: "conv1d", 4: "conv2d"}[weight.ndim]


def _expected_torch_kind(layer):
    if isinstance(layer, L.Conv2D):
        return "conv2d"
    if isinstance(layer, L.Conv1D):
        return "conv1d"
    if isinstance(layer, L.Dense):
        return "linear"
    if isinstance(layer, L.BatchNormalization):
        return "batchnorm"
    raise ValueError(
        f"layer '{layer.name}' ({type(layer).__name__}) has weights fastcnn cannot map from PyTorch"
    )


def from_torch_state_dict(model, state_dict):
    """Copy a PyTorch `state_dict` (name -> tensor or NumPy array) into `model`.

    The state_dict's modules (Conv1d, Conv2d, Linear, BatchNorm1d/2d; grouped
    by the name before the last dot, in the dict's order) are paired in order
    with the model's Conv1D, Conv2D, Dense and BatchNormalization layers.
    Conv weights are copied as they are (both are (out, in/groups, *kernel)),
    Linear weights transposed to the Dense kernel (in, out); BatchNorm's
    weight/bias/running_mean/running_var become gamma/beta/moving_mean/
    moving_variance (num_batches_tracked is ignored). Returns the model.
    Raises ValueError naming the layer and shapes on any mismatch, before
    changing anything.
    """
    targets = [layer for layer in _model_layers(model) if layer.param_names or layer.state_names]
    modules = _torch_modules(state_dict)
    kinds = [_torch_kind(prefix, tensors) for prefix, tensors in modules]
    if len(modules) != len(targets):
        raise ValueError(
            f"the state_dict has {len(modules)} modules with weights "
            f"({[p for p, _ in modules]}) but the model has {len(targets)} layers "
            f"with weights ({[t.name for t in targets]})"
        )
    planned = []
    for layer, (prefix, tensors), kind in zip(targets, modules, kinds):
        want = _expected_torch_kind(layer)
        if kind != want:
            raise ValueError(
                f"layer '{layer.name}' ({type(layer).__name__}) is paired with "
                f"PyTorch module '{prefix}', which looks like a {kind} layer "
                f"(shapes { ({k: v.shape for k, v in tensors.items()}) })"
            )
        if kind == "batchnorm":
            names = {
                "gamma": "weight",
                "beta": "bias",
                "moving_mean": "running_mean",
                "moving_variance": "running_var",
            }
            names = {
                ours: theirs
                for ours, theirs in names.items()
                if ours in layer.param_names + layer.state_names
            }
            convert = lambda name, a: a
        else:
            names = {"kernel": "weight", "bias": "bias"}
            names = {ours: theirs for ours, theirs in names.items() if ours in layer.param_names}
            convert = (
                (lambda name, a: a.T if name == "kernel" else a) if kind == "linear" else (lambda name, a: a)
            )
        extra = set(tensors) - set(names.values())
        missing = set(names.values()) - set(tensors)
        if extra or missing:
            raise ValueError(
                f"layer '{layer.name}' ({type(layer).__name__}) expects "
                f"{sorted(names.values())} from PyTorch module '{prefix}', which has "
                f"{sorted(tensors)} (bias / affine settings differ?)"
            )
        for ours, theirs in names.items():
            value = convert(ours, tensors[theirs])
            _check(
                layer,
                ours,
                value.shape,
                f"PyTorch '{prefix}.{theirs}' {tuple(tensors[theirs].shape)}"
                + (" transposed" if value.shape != tensors[theirs].shape else ""),
            )
            planned.append((layer, ours, value))
    _assign(planned)
    return model


# ------------------------------------------------------------------------ Keras


def _channels_last_order(shape):
    """perm with ours_flat[i] == keras_flat[perm[i]] for a per-sample (C, *spatial) tensor."""
    c, spatial = shape[0], tuple(shape[1:])
    keras = np.arange(math.prod(shape)).reshape(spatial + (c,))  # Keras' flat index at (s, c)
    return np.moveaxis(keras, -1, 0).reshape(-1)  # read in our (c, s) order


def _keras_kernel(layer, name, value, source):
    """A Keras kernel in fastcnn's layout, and the note for error messages."""
    want_ndim, keras_layout = {
        "Conv2D": (4, "(KH, KW, in, out)"),
        "Conv1D": (3, "(K, in, out)"),
        "Conv2DTranspose": (4, "(KH, KW, out, in)"),
        "Conv1DTranspose": (3, "(K, out, in)"),
        "DepthwiseConv2D": (4, "(KH, KW, in, depth_multiplier)"),
    }[_keras_kind(layer, name)]
    if value.ndim != want_ndim:
        raise ValueError(
            f"layer '{layer.name}' ({type(layer).__name__}): {name} must be {want_ndim}-D "
            f"{keras_layout}, but {source} is {value.ndim}-D"
        )
    if _keras_kind(layer, name) == "DepthwiseConv2D":
        kh, kw, c, m = value.shape  # Keras' output channel c * m + j is ours too
        return value.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]
    return value.transpose(3, 2, 0, 1) if want_ndim == 4 else value.transpose(2, 1, 0)


def _keras_kind(layer, name):
    """Which Keras kernel layout the array `name` of `layer` comes in (None: as is)."""
    if isinstance(layer, L.SeparableConv2D):
        return {"depthwise_kernel": "DepthwiseConv2D", "pointwise_kernel": "Conv2D"}.get(name)
    if name != "kernel":
        return None
    for kind in (L.DepthwiseConv2D, L.Conv2DTranspose, L.Conv1DTranspose, L.Conv2D, L.Conv1D):
        if isinstance(layer, kind):
            return kind.__name__
    return None


def _flatten_orders(model, layers, channels_last):
    """id(layer) -> the row order of its weights after a channels-last Flatten:
    for the first Dense after a Flatten of a multi-dimensional tensor (and any
    BatchNormalization between them). Graph models follow their edges;
    Sequential models the layer order."""
    orders = {}
    if not channels_last:
        return orders
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        perm, ours_last = None, False
        for layer in layers:
            if hasattr(layer, "data_format"):
                ours_last = layer.data_format == "channels_last"
            if isinstance(layer, L.Flatten):
                shape = tuple(layer.input_shape or ())
                perm = _channels_last_order(shape) if not ours_last and len(shape) >= 2 else None
            elif isinstance(layer, (L.Dense, L.BatchNormalization)) and perm is not None:
                orders[id(layer)] = perm
                perm = None if isinstance(layer, L.Dense) else perm
            elif layer.param_names:
                perm = None  # a Flatten's order no longer reaches a Dense
        return orders
    ours_last = any(getattr(layer, "data_format", None) == "channels_last" for layer in layers)
    for node in nodes:
        if not isinstance(node.layer, (L.Dense, L.BatchNormalization)) or ours_last:
            continue
        source = node.inputs[0].node
        while source is not None and isinstance(source.layer, L.BatchNormalization):
            source = source.inputs[0].node
        if source is not None and isinstance(source.layer, L.Flatten):
            shape = tuple(source.inputs[0].shape)
            if len(shape) >= 2:
                orders[id(node.layer)] = _channels_last_order(shape)
    return orders


def _keras_arrays_by_layer(layers, weights):
    """[(layer, [arrays], [where each array comes from])] for the layers with
    weights: from a flat get_weights() list, taken in layer order, or from a
    {layer name: [arrays]} mapping."""
    targets = [layer for layer in layers if layer.param_names + layer.state_names]
    if isinstance(weights, dict):
        unknown = set(weights) - {layer.name for layer in targets}
        if unknown:
            raise ValueError(
                f"no layer with weights named {sorted(unknown)}; the model's are {[t.name for t in targets]}"
            )
        return [
            (
                layer,
                [_to_numpy(w, f"weights[{layer.name!r}][{i}]") for i, w in enumerate(weights[layer.name])],
                [f"Keras weights[{layer.name!r}][{i}]" for i in range(len(weights[layer.name]))],
            )
            for layer in targets
            if layer.name in weights
        ]
    weights = [_to_numpy(w, f"weights[{i}]") for i, w in enumerate(weights)]
    out, pos = [], 0
    for layer in targets:
        n = len(layer.param_names + layer.state_names)
        if pos + n > len(weights):
            raise ValueError(
                f"layer '{layer.name}' ({type(layer).__name__}) needs "
                f"{n} arrays {list(layer.param_names + layer.state_names)}, but only "
                f"{len(weights) - pos} of the {len(weights)} are left"
            )
        out.append((layer, weights[pos : pos + n], [f"Keras weights[{k}]" for k in range(pos, pos + n)]))
        pos += n
    if pos != len(weights):
        raise ValueError(
            f"{len(weights) - pos} Keras arrays left over after filling every layer "
            f"(used {pos} of {len(weights)}); first unused shape {weights[pos].shape}"
        )
    return out


def from_keras_weights(model, weights, channels_last=True):
    """Copy a Keras model's weights into `model` (a Sequential or a graph Model).

    `weights` is `keras_model.get_weights()` -- a flat list, taken in the
    order of `model.layers` (for graph models fastcnn's run order, which is
    Keras' for chains but may differ where branches meet) -- or a mapping
    from fastcnn layer names to each layer's list,
    `{name: keras_model.get_layer(keras_name).get_weights(), ...}`, which
    pairs layers by name whatever the order.

    Per layer: Conv kernel (KH, KW, in/groups, out) -- (K, in/groups, out)
    for Conv1D -- then bias; Conv2DTranspose kernel (KH, KW, out, in),
    Conv1DTranspose (K, out, in); DepthwiseConv2D depthwise_kernel (KH, KW,
    in, depth_multiplier); SeparableConv2D depthwise_kernel, pointwise_kernel
    (1, 1, in * depth_multiplier, out), bias; Dense kernel (in, out) then
    bias; BatchNormalization gamma, beta, moving_mean, moving_variance (gamma
    or beta absent with scale=False / center=False). Kernels are transposed to
    fastcnn's layouts; with `channels_last` (Keras' default data format) the
    first Dense after a Flatten of a multi-dimensional tensor gets its rows
    permuted from Keras' (H, W, C) flatten order to our (C, H, W) order (see
    the module docstring) -- unless `model` is itself channels-last
    (data_format='channels_last' layers), whose Flatten already walks (H, W, C).
    Returns the model; raises ValueError naming the layer and shapes on a
    mismatch, before changing anything.
    """
    layers = _model_layers(model)
    orders = _flatten_orders(model, layers, channels_last)
    planned = []
    for layer, arrays, labels in _keras_arrays_by_layer(layers, weights):
        names = layer.param_names + layer.state_names
        if len(arrays) != len(names):
            raise ValueError(
                f"layer '{layer.name}' ({type(layer).__name__}) needs {len(names)} arrays {list(names)}, "
                f"got {len(arrays)}"
            )
        perm = orders.get(id(layer))
        for name, value, label in zip(names, arrays, labels):
            source = f"{label} {value.shape}"
            converted = _keras_kind(layer, name) is not None
            if converted:
                value = _keras_kernel(layer, name, value, source)
            elif (
                perm is not None
                and value.ndim >= 1
                and (name == "kernel" or isinstance(layer, L.BatchNormalization))
            ):
                if value.shape[0] != perm.size:
                    _check(layer, name, value.shape, source)
                value = value[perm]
            _check(layer, name, value.shape, source + (" transposed" if converted else ""))
            planned.append((layer, name, value))
    _assign(planned)
    return model
