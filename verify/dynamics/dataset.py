"""The record of a training-lab data set and the reading its loaders share (the loaders, one per data set, and
:func:`verify.dynamics.data.load_dataset` are in :mod:`verify.dynamics.data`, which re-exports
:class:`Dataset`, :class:`DataError` and :class:`MissingExtraError`).

- :class:`Dataset`: the split tensors, the input shape, the classes, the valid input ``box`` and ``source``;
- :class:`DataError` and :class:`MissingExtraError`: bad input, and a missing optional package;
- :func:`split_set`: a Dataset from numpy arrays with a seeded stratified split; :func:`need_extra` and
  :func:`package_version`: an optional package and its version;
- :func:`find_files`, :func:`read_idx`, :func:`check_pair`, :func:`pixels`, :func:`read_cifar`: the IDX and
  CIFAR-10 files, checked before any Dataset is built (a CIFAR-10 pickle is read by an unpickler that only
  builds numpy arrays).
"""

from __future__ import annotations

import codecs
import gzip
import importlib
import importlib.metadata
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from verify.errors import MissingExtraError, VerifyError

__all__ = ["DataError", "MissingExtraError", "Dataset", "split_set", "need_extra", "package_version", "find_files",
           "read_idx", "check_pair", "pixels", "read_cifar"]



class DataError(VerifyError, ValueError):
    """A data-set name that names no data set, or a data file that is missing or malformed; one line that
    names the file (or the name) and the problem."""


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


def split_set(name, x, y, num, den, seed, in_shape, scale, source) -> Dataset:
    """A Dataset from numpy features (scaled by ``1 / scale`` into [0, 1]) and labels, split stratified."""
    x = np.asarray(x, dtype=np.float64).reshape((len(x),) + in_shape) / scale
    y = np.asarray(y).astype(np.int64)
    tr, te = _stratified_split(y, num, den, seed)
    return Dataset(name, torch.from_numpy(x[tr]), torch.from_numpy(y[tr]), torch.from_numpy(x[te]),
                   torch.from_numpy(y[te]), in_shape, 10, (0.0, 1.0), source)


def need_extra(package: str, module: str, kind: str):
    """Import ``module`` of the optional ``package``, or raise :class:`MissingExtraError` for ``kind``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = "" if isinstance(exc, ModuleNotFoundError) else f"importing it failed: {_one_line(exc)}"
        raise MissingExtraError(package, "data", kind, detail=why) from None


def package_version(package: str) -> str:
    """The installed distribution's version, for the source line ("?" where its metadata is missing)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# ------------------------------------------------------------------------------------------ file sets


def find_files(folder: Path, names: tuple[str, ...], gz: bool, kind: str) -> list[Path]:
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


def read_idx(path: Path, magic: int) -> np.ndarray:
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


def check_pair(images: np.ndarray, labels: np.ndarray, ipath: Path, lpath: Path, classes: int) -> None:
    """DataError unless there are as many labels as images and every label is in [0, classes)."""
    if len(images) != len(labels):
        raise DataError(f"{ipath} has {len(images)} images but {lpath} has {len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{ipath}: no images")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(bad):
        raise DataError(f"{lpath}: label {int(labels[bad[0]])} at index {int(bad[0])} is out of range "
                        f"0..{classes - 1}")


def pixels(a: np.ndarray, in_shape: tuple) -> torch.Tensor:
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


def read_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
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
