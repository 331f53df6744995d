"""The tutorials' CNNs, as `Sequential` (and graph `Model`) models ready to compile.

Each builder returns an uncompiled model and takes a `seed` so that weight
initialisation (and dropout) is reproducible; `compile_args(name)` gives the
optimizer and loss the tutorial trains it with.
"""

from __future__ import annotations

import itertools

from . import layers as L, losses, optimizers
from .graph import Input, Model
from .model import LearningRateScheduler, Sequential


def _seeds(seed):
    return itertools.count(0 if seed is None else seed * 1000)


def mnist_pytorch(seed=0):
    """The PyTorch tutorial's MNIST CNN: 1->16->32->32->64 channels of 5x5
    'same' convolutions with ReLU, two 2x2 max pools, Linear 64*7*7 -> 10."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input((1, 28, 28)),
            L.Conv2D(16, 5, padding=2, activation="relu", seed=next(s)),
            L.MaxPool2D(2),
            L.Conv2D(32, 5, padding=2, activation="relu", seed=next(s)),
            L.Conv2D(32, 5, padding=2, activation="relu", seed=next(s)),
            L.MaxPool2D(2),
            L.Conv2D(64, 5, padding=2, activation="relu", seed=next(s)),
            L.Flatten(),
            L.Dense(10, seed=next(s)),
        ],
        name="mnist_pytorch",
    )


def mnist_keras(seed=0, input_shape=(1, 28, 28)):
    """The Keras tutorial's MNIST CNN: Conv 32 4x4 relu, MaxPool 3x3, Conv 64
    4x4 relu, MaxPool 3x3, Flatten, Dense 64 relu, Dense 10 (logits)."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input(input_shape),
            L.Conv2D(32, 4, activation="relu", seed=next(s)),
            L.MaxPool2D(3),
            L.Conv2D(64, 4, activation="relu", seed=next(s)),
            L.MaxPool2D(3),
            L.Flatten(),
            L.Dense(64, activation="relu", seed=next(s)),
            L.Dense(10, seed=next(s)),
        ],
        name="mnist_keras",
    )


def fashion_bn(seed=0):
    """Two conv blocks with BatchNorm and pooling for Fashion-MNIST (the
    "2 Conv + pooling + BN" family of the dataset's benchmark table)."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input((1, 28, 28)),
            L.Conv2D(32, 3, padding="same", use_bias=False, seed=next(s)),
            L.BatchNormalization(),
            L.ReLU(),
            L.Conv2D(32, 3, padding="same", use_bias=False, seed=next(s)),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Conv2D(64, 3, padding="same", use_bias=False, seed=next(s)),
            L.BatchNormalization(),
            L.ReLU(),
            L.Conv2D(64, 3, padding="same", use_bias=False, seed=next(s)),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dropout(0.3, seed=next(s)),
            L.Dense(128, activation="relu", seed=next(s)),
            L.Dropout(0.3, seed=next(s)),
            L.Dense(10, seed=next(s)),
        ],
        name="fashion_bn",
    )


def cifar_keras(seed=0):
    """The Keras tutorial's CIFAR-10 CNN: Conv 32 3x3 -> pool -> Conv 64 ->
    pool -> Conv 64 -> Flatten -> Dense 64 -> Dense 10 (logits)."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input((3, 32, 32)),
            L.Conv2D(32, 3, activation="relu", seed=next(s)),
            L.MaxPool2D(2),
            L.Conv2D(64, 3, activation="relu", seed=next(s)),
            L.MaxPool2D(2),
            L.Conv2D(64, 3, activation="relu", seed=next(s)),
            L.Flatten(),
            L.Dense(64, activation="relu", seed=next(s)),
            L.Dense(10, seed=next(s)),
        ],
        name="cifar_keras",
    )


def digits(seed=0):
    """A small CNN for scikit-learn's 8x8 digits (the no-download default)."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input((1, 8, 8)),
            L.Conv2D(16, 3, padding="same", activation="relu", seed=next(s)),
            L.Conv2D(32, 3, padding="same", activation="relu", seed=next(s)),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(64, activation="relu", seed=next(s)),
            L.Dense(10, seed=next(s)),
        ],
        name="digits",
    )


def signal_1d(seed=0, length=40, classes=10):
    """A Conv1D + pooling classifier for 1-D signals (MNIST-1D, ECG-style)."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input((1, length)),
            L.Conv1D(32, 5, padding="same", activation="relu", seed=next(s)),
            L.Conv1D(32, 5, padding="same", activation="relu", seed=next(s)),
            L.MaxPool1D(2),
            L.Conv1D(64, 3, padding="same", activation="relu", seed=next(s)),
            L.Conv1D(64, 3, padding="same", activation="relu", seed=next(s)),
            L.MaxPool1D(2),
            L.Flatten(),
            L.Dense(128, activation="relu", seed=next(s)),
            L.Dense(classes, seed=next(s)),
        ],
        name="signal_1d",
    )


def resnet20(seed=0, input_shape=(3, 32, 32), classes=10):
    """He et al. 2016's CIFAR ResNet-20 (0.27M parameters): a 3x3 conv of 16
    filters, then three stages of three basic blocks (two 3x3 convs with
    BatchNorm, ReLU after the sum) of 16, 32 and 64 filters, each later stage
    halving the plane by a stride-2 first conv; global average pooling and a
    Dense layer of logits. Where a block changes the shape, its shortcut is
    a 1x1 stride-2 convolution with BatchNorm (the paper's option B); the
    others add the block's input. Padding 1 on every side, as PyTorch's
    CIFAR ResNets (so a PyTorch twin with the same weights computes the same).
    A 28x28 input (Fashion-MNIST) runs at 28, 14 and 7."""
    s = _seeds(seed)

    def conv_bn(x, filters, kernel, stride, relu):
        x = L.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding=kernel // 2,
            use_bias=False,
            kernel_initializer="he_normal",
            seed=next(s),
        )(x)
        x = L.BatchNormalization()(x)
        return L.ReLU()(x) if relu else x

    inputs = Input(input_shape, name="image")
    x = conv_bn(inputs, 16, 3, 1, True)
    channels = 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(x, filters, 3, stride, True)
            y = conv_bn(y, filters, 3, 1, False)
            shortcut = x if stride == 1 and channels == filters else conv_bn(x, filters, 1, stride, False)
            x = L.ReLU()(L.Add()([y, shortcut]))
            channels = filters
    outputs = L.Dense(classes, seed=next(s))(L.GlobalAvgPool2D()(x))
    return Model(inputs, outputs, name="resnet20")


def resnet20_fashion(seed=0):
    """ResNet-20 on 28x28 single-channel images (Fashion-MNIST, MNIST)."""
    model = resnet20(seed, input_shape=(1, 28, 28))
    model.name = "resnet20_fashion"
    return model


def unet(seed=0, input_shape=(1, 32, 32), base=16):
    """A small two-level U-Net (Ronneberger et al. 2015) for binary segmentation:
    two 3x3 ReLU convolutions per level (base, 2 base, 4 base filters at the
    bottom), 2x2 max pooling down, 2x2 stride-2 Conv2DTranspose up, each
    upsampled map concatenated with the encoder's map of its size, and a 1x1
    convolution to one channel of per-pixel logits. Train it with
    losses.BinaryCrossentropy(from_logits=True) against (N, 1, H, W) masks;
    H and W must be multiples of 4."""
    s = _seeds(seed)

    def block(x, filters):
        for _ in range(2):
            x = L.Conv2D(
                filters, 3, padding=1, activation="relu", kernel_initializer="he_normal", seed=next(s)
            )(x)
        return x

    inputs = Input(input_shape, name="image")
    c1 = block(inputs, base)
    c2 = block(L.MaxPool2D(2)(c1), 2 * base)
    bottom = block(L.MaxPool2D(2)(c2), 4 * base)
    u2 = L.Conv2DTranspose(2 * base, 2, strides=2, seed=next(s))(bottom)
    c3 = block(L.Concatenate(axis=1)([u2, c2]), 2 * base)
    u1 = L.Conv2DTranspose(base, 2, strides=2, seed=next(s))(c3)
    c4 = block(L.Concatenate(axis=1)([u1, c1]), base)
    return Model(inputs, L.Conv2D(1, 1, seed=next(s))(c4), name="unet")


def conv_autoencoder(seed=0, input_shape=(1, 28, 28)):
    """A convolutional autoencoder for 28x28 images (Keras' denoising tutorial):
    two stride-2 3x3 convolutions (32, 64 filters, ReLU) down to 7x7, two
    stride-2 Conv2DTranspose (64, 32) back up, and a 3x3 convolution to one
    sigmoid channel. Train it with loss='binary_crossentropy' on x -> x."""
    s = _seeds(seed)
    return Sequential(
        [
            L.Input(input_shape),
            L.Conv2D(32, 3, strides=2, padding="same", activation="relu", seed=next(s)),
            L.Conv2D(64, 3, strides=2, padding="same", activation="relu", seed=next(s)),
            L.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu", seed=next(s)),
            L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", seed=next(s)),
            L.Conv2D(input_shape[0], 3, padding="same", activation="sigmoid", seed=next(s)),
        ],
        name="conv_autoencoder",
    )


MODELS = {
    "mnist-pytorch": mnist_pytorch,
    "mnist-keras": mnist_keras,
    "fashion-bn": fashion_bn,
    "cifar-keras": cifar_keras,
    "digits": digits,
    "signal-1d": signal_1d,
    "resnet20": resnet20,
    "resnet20-fashion": resnet20_fashion,
}


def compile_args(name):
    """The optimizer and loss each tutorial trains with (Adam, logits + sparse CE).

    The PyTorch tutorial's lr=0.01 diverges (to 10% accuracy, in PyTorch too)
    on the 5,000-image MNIST subset; 1e-3 is used instead.
    """
    return {
        "optimizer": optimizers.Adam(learning_rate=1e-3),
        "loss": losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": ["accuracy"],
    }


def fit_args(name):
    """Extra `fit` arguments of a recipe: the Fashion-MNIST BatchNorm model
    decays its learning rate by 0.7 per epoch (Adam's 1e-3 plateaus near 92.9%),
    the ResNet-20s by half per epoch."""
    if name == "fashion-bn":
        return {"callbacks": [LearningRateScheduler(lambda epoch, lr: 1e-3 * 0.7**epoch)]}
    if name in ("resnet20", "resnet20-fashion"):  # Adam's 1e-3 alone leaves the test accuracy noisy
        return {"callbacks": [LearningRateScheduler(lambda epoch, lr: 1e-3 * 0.5**epoch)]}
    return {}
