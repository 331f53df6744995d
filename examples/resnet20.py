"""ResNet-20 (He et al. 2016; fastcnn.zoo.resnet20, a graph model) on CIFAR-10 in
its python-batch format, or on Fashion-MNIST (28x28, one channel).

    python examples/resnet20.py cifar10 CIFAR_DIR [--epochs 10]
    python examples/resnet20.py fashion [DATA_DIR] [--epochs 4]

Adam 1e-3 halved per epoch (zoo.fit_args); on Fashion-MNIST four epochs
reach about 0.90 test accuracy.
"""

import argparse

from fastcnn import data, zoo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["cifar10", "fashion"])
    parser.add_argument("data", nargs="?", default=None)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    args = parser.parse_args(argv)
    if args.dataset == "cifar10":
        train, test = data.load_cifar10(args.data, "train"), data.load_cifar10(args.data, "test")
        model, recipe = zoo.resnet20(seed=0), "resnet20"
    else:
        train, test = data.load_fashion_mnist(args.data, "train"), data.load_fashion_mnist(args.data, "test")
        model, recipe = zoo.resnet20_fashion(seed=0), "resnet20-fashion"
    (x, y), (x_test, y_test) = train, test
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    model.compile(**zoo.compile_args(recipe))
    model.summary()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, seed=0, **zoo.fit_args(recipe))
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f})")
    return accuracy


if __name__ == "__main__":
    main()
