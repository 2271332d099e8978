"""One error family per package: every exception any module of theory, verify or figures exports (its
``__all__``) derives from that package's base and keeps a standard base; a missing optional package is one
error type everywhere."""

import importlib
import pkgutil

import pytest

import figures
import theory
import verify
from figures.errors import FiguresError
from theory.errors import TheoryError
from verify.errors import MissingExtraError, VerifyError

BASES = {"theory": TheoryError, "verify": VerifyError, "figures": FiguresError}
#: The standard bases a user's mistake keeps (besides the family's own).
STANDARD = (ValueError, TypeError, LookupError, ImportError, RuntimeError)


def _modules(pkg):
    yield pkg
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _exported_exceptions():
    seen = {}
    for pkg in (theory, verify, figures):
        for mod in _modules(pkg):
            for name in getattr(mod, "__all__", ()):
                obj = getattr(mod, name, None)
                if isinstance(obj, type) and issubclass(obj, BaseException) and not issubclass(obj, Warning):
                    seen.setdefault(obj, f"{mod.__name__}.{name}")
    return seen


EXPORTED = _exported_exceptions()


def test_the_packages_export_their_errors():
    names = set(EXPORTED.values())
    assert {"verify.VerifyError", "verify.LabelError", "verify.MissingExtraError",
            "theory.TheoryError", "theory.UnknownNameError", "figures.FiguresError", "figures.NoDataError"} <= names
    assert len(EXPORTED) >= 20          # every error of every module: a test that sees none tests nothing


@pytest.mark.parametrize("cls", sorted(EXPORTED, key=lambda c: EXPORTED[c]), ids=lambda c: EXPORTED[c])
def test_every_exported_error_derives_from_its_packages_base_and_a_standard_one(cls):
    where = EXPORTED[cls].split(".")[0]
    assert issubclass(cls, BASES[where]), f"{EXPORTED[cls]} does not derive from {BASES[where].__name__}"
    if cls not in BASES.values():
        assert issubclass(cls, STANDARD), f"{EXPORTED[cls]} has no standard base"


def test_the_shared_errors_are_one_class_in_both_packages():
    for name in ("ShapeError", "UnsupportedLayerError", "TrainingModeError", "KinkError", "NonFiniteError",
                 "UnknownNameError"):
        assert getattr(theory, name, None) is None or getattr(theory, name) is getattr(verify, name)
        assert issubclass(getattr(verify, name), TheoryError) and issubclass(getattr(verify, name), VerifyError)


def test_a_missing_package_is_one_error_naming_the_extra(monkeypatch):
    import sys

    from verify.errors import require
    from verify.robust.solvers import SolverUnavailableError

    assert SolverUnavailableError is MissingExtraError and issubclass(MissingExtraError, ImportError)
    monkeypatch.setitem(sys.modules, "tueplots", None)
    with pytest.raises(MissingExtraError, match=r'^--venue needs tueplots, which is not installed: '
                                                r'pip install -e "\.\[figures\]"$') as info:
        require("tueplots", "figures", "--venue")
    assert info.value.package == "tueplots" and info.value.extra == "figures"


def test_no_user_facing_message_is_a_key_error():
    with pytest.raises(LookupError) as info:
        theory.claim("no-such-claim")
    assert not isinstance(info.value, KeyError) and str(info.value).startswith("unknown claim id 'no-such-claim'")
