"""One canonical id per regularizer, the same aliases in every place that takes a regularizer's name."""

import pytest

from verify.dynamics.train import Objective
from verify.errors import UnknownNameError
from verify.regularizers import conventions
from verify.regularizers.names import ALIASES, SUPPORTED, lab_key, regularizer_id

NAMES = [(rid, alias) for rid, aliases in ALIASES.items() for alias in (rid, rid.lower()) + aliases]


@pytest.mark.parametrize("rid, name", NAMES)
def test_every_alias_names_its_regularizer_everywhere(rid, name):
    assert regularizer_id(name) == rid
    assert regularizer_id(name.replace("-", "_").upper()) == rid
    assert conventions(name) == conventions(rid)
    assert Objective(name, lam=0.1).reg == lab_key(rid) == ALIASES[rid][0]


def test_an_unknown_name_lists_the_canonical_ids_everywhere():
    for call in (lambda: regularizer_id("R-FOO"), lambda: conventions("R-FOO"), lambda: Objective("R-FOO")):
        with pytest.raises(UnknownNameError, match="R-FOO") as info:
            call()
        assert "R-IG" in str(info.value) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["R-EMR", "emr", "effective_margin", "R-CURE", "input-gradient"])
def test_the_labs_lam_option_takes_every_name(capsys, name):
    from verify.cli.dynamics import main

    assert main(["--lam", f"{name}=-1"]) == 2          # the name is accepted; the value is then refused
    assert capsys.readouterr().err.strip() == f"error: --lam '{name}=-1': lambda must be a finite number >= 0"


def test_the_ids_are_the_specifications():
    assert SUPPORTED == ("R-IG", "R-JAC", "R-CL", "R-CURE", "R-EMR")
