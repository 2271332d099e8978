"""The verdict rule of SPEC.md ("The verdict rule"), on inputs built to land on each side of it."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from verify.dynamics import verdicts as V
from verify.dynamics.verdicts import (
    ALPHA,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    ClaimVerdict,
    Comparison,
    combine,
    compare,
    format_effect,
    majority,
    sign_test,
    spearman,
)

NAN = float("nan")


def _split(n_for, n_against, n_ties=0):
    """Paired sides with exactly n_for seeds A < B, n_against A > B and n_ties A = B."""
    a, b = [], []
    for i in range(n_for):
        a.append(1.0 + i)
        b.append(2.0 + 2 * i)
    for i in range(n_against):
        a.append(3.0 + i)
        b.append(1.0 + 0.5 * i)
    for i in range(n_ties):
        a.append(4.0 + i)
        b.append(4.0 + i)
    return a, b


def _hand_p(k, n):
    """P(X >= k), X ~ Binomial(n, 1/2), by summing the probability mass function."""
    return float(sum(Fraction(math.comb(n, j), 2**n) for j in range(k, n + 1)))


# --- constants and the sign test -------------------------------------------------------------


def test_constants():
    assert (SUPPORTED, CONTRADICTED, INCONCLUSIVE) == ("SUPPORTED", "CONTRADICTED", "INCONCLUSIVE")
    assert ALPHA == 0.05 and BOOTSTRAP_RESAMPLES == 10_000 and BOOTSTRAP_SEED == 0
    for name in V.__all__:
        assert hasattr(V, name)


@pytest.mark.parametrize(
    "n_for, n_against, p",
    [
        (5, 0, 1 / 32),
        (4, 1, 6 / 32),
        (3, 2, 16 / 32),
        (0, 5, 1.0),
        (1, 0, 0.5),
        (0, 0, 1.0),
        (6, 0, 1 / 64),
        (9, 1, 11 / 1024),
        (8, 2, 56 / 1024),
    ],
)
def test_sign_test_exact(n_for, n_against, p):
    assert sign_test(n_for, n_against) == p


def test_sign_test_against_the_pmf_sum():
    for n in range(0, 21):
        for k in range(0, n + 1):
            assert sign_test(k, n - k) == (_hand_p(k, n) if n else 1.0)


def test_sign_test_level_boundary():
    # 5 seeds: unanimity is needed; 10 seeds: 9-1 passes, 8-2 (p = 56/1024 = 0.0547) does not.
    assert sign_test(5, 0) < ALPHA <= sign_test(4, 1)
    assert sign_test(9, 1) < ALPHA <= sign_test(8, 2)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_sign_test_rejects_bad_counts(bad):
    with pytest.raises((TypeError, ValueError), match="n_for"):
        sign_test(bad, 0)


# --- the verdict of one comparison ------------------------------------------------------------


def test_all_five_agree_supported():
    c = compare("(1) omega_M < omega_E", *_split(5, 0))
    assert (c.n_for, c.n_against, c.n_ties, c.n_missing) == (5, 0, 0, 0)
    assert c.p_for == 1 / 32 and c.p_against == 1.0
    assert c.verdict == SUPPORTED
    assert c.seeds == (0, 1, 2, 3, 4)


def test_all_five_reversed_contradicted():
    c = compare("rev", *_split(0, 5))
    assert (c.n_for, c.n_against) == (0, 5)
    assert c.p_for == 1.0 and c.p_against == 1 / 32
    assert c.verdict == CONTRADICTED


def test_four_one_inconclusive_both_ways():
    c = compare("4-1", *_split(4, 1))
    assert c.p_for == 6 / 32 and c.verdict == INCONCLUSIVE
    r = compare("1-4", *_split(1, 4))
    assert r.p_against == 6 / 32 and r.verdict == INCONCLUSIVE


def test_three_two_inconclusive():
    c = compare("3-2", *_split(3, 2))
    assert c.p_for == 0.5 and c.p_against == 26 / 32
    assert c.verdict == INCONCLUSIVE


def test_one_seed_inconclusive_interval_is_the_ratio():
    c = compare("one", [2.0], [3.0], seeds=[7])
    assert c.p_for == 0.5 and c.verdict == INCONCLUSIVE
    assert c.effect == 1.5 and c.interval == (1.5, 1.5)
    assert c.seeds == (7,)


def test_ties_are_dropped():
    c = compare("5+tie", *_split(5, 0, n_ties=1))
    assert (c.n_for, c.n_against, c.n_ties) == (5, 0, 1)
    assert c.p_for == 1 / 32 and c.verdict == SUPPORTED
    allties = compare("ties", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (allties.n_ties, allties.p_for, allties.p_against) == (3, 1.0, 1.0)
    assert allties.verdict == INCONCLUSIVE


def test_six_and_ten_seeds():
    six = compare("6-0", *_split(6, 0))
    assert six.p_for == 1 / 64 and six.verdict == SUPPORTED
    ten = compare("9-1", *_split(9, 1))
    assert ten.p_for == 11 / 1024 and ten.verdict == SUPPORTED
    eight = compare("8-2", *_split(8, 2))
    assert eight.p_for == 56 / 1024 and eight.verdict == INCONCLUSIVE


def test_nan_seeds_are_missing_not_for_or_against():
    a, b = _split(5, 0)
    c = compare("nan", a + [NAN, 1.0], b + [1.0, NAN])
    assert (c.n_for, c.n_against, c.n_ties, c.n_missing) == (5, 0, 0, 2)
    assert c.p_for == 1 / 32 and c.verdict == SUPPORTED
    # Four real agreements and one NaN are not five agreements.
    d = compare("nan4", a[:4] + [NAN], b[:4] + [5.0])
    assert (d.n_for, d.n_missing) == (4, 1)
    assert d.p_for == 1 / 16 and d.verdict == INCONCLUSIVE
    assert d.effect is None and "finite" in d.note


def test_infinities_compare_as_numbers():
    c = compare("inf", [1.0, 2.0, 3.0, 4.0, -math.inf], [2.0, 3.0, 4.0, 5.0, 0.0])
    assert c.n_for == 5 and c.n_missing == 0 and c.verdict == SUPPORTED
    assert c.effect is None and c.note.startswith("ratio B/A is defined for finite values only")


# --- effect and interval ----------------------------------------------------------------------


def test_effect_is_the_median_ratio():
    a = [1.0, 2.0, 4.0, 5.0, 10.0]
    b = [3.0, 3.0, 5.0, 10.0, 11.0]  # ratios 3, 1.5, 1.25, 2, 1.1 -> sorted 1.1, 1.25, 1.5, 2, 3
    c = compare("eff", a, b)
    assert c.effect == 1.5
    lo, hi = c.interval
    assert 1.1 <= lo <= c.effect <= hi <= 3.0 and lo < hi
    # deterministic across calls
    assert compare("eff", a, b).interval == c.interval
    # an even number of seeds: the median is the mean of the middle two
    e = compare("even", [1.0, 1.0, 1.0, 1.0], [1.5, 2.0, 3.0, 5.0])
    assert e.effect == 2.5


def test_interval_is_the_seeded_percentile_bootstrap():
    a = np.array([1.0, 2.0, 4.0, 5.0, 10.0])
    b = np.array([3.0, 3.0, 5.0, 10.0, 11.0])
    r = b / a
    rng = np.random.Generator(np.random.PCG64(0))
    med = np.median(r[rng.integers(0, 5, size=(10_000, 5))], axis=1)
    want = tuple(float(v) for v in np.percentile(med, [2.5, 97.5]))
    assert compare("boot", a, b).interval == want
    # 12 seeds, distinct ratios: enough distinct resample medians that the percentile levels matter
    a = np.linspace(1.0, 3.0, 12)
    b = a * (1 + np.arange(12) ** 1.5 / 10)
    r = b / a
    rng = np.random.Generator(np.random.PCG64(0))
    med = np.median(r[rng.integers(0, 12, size=(10_000, 12))], axis=1)
    c = compare("boot12", a, b)
    assert c.interval == tuple(float(v) for v in np.percentile(med, [2.5, 97.5]))
    assert c.interval != tuple(float(v) for v in np.percentile(med, [5, 95]))
    assert c.effect == float(np.median(r))


def test_constant_ratios_give_a_point_interval():
    c = compare("const", [1.0, 2.0, 3.0, 4.0, 5.0], [1.3, 2.6, 3.9000000000000004, 5.2, 6.5])
    r = c.effect
    assert all(bi / ai == r for ai, bi in zip(c.a, c.b))
    assert c.interval == (r, r)


@pytest.mark.parametrize(
    "a, b",
    [
        ([1.0, 0.0, 2.0], [2.0, 1.0, 3.0]),  # a zero a_i
        ([1.0, -1.0, 2.0], [2.0, 1.0, 3.0]),  # a negative a_i
        ([-2.0, -3.0, -4.0], [-1.0, -1.0, -1.0]),  # all negative: undefined by choice
        ([1.0, 2.0, 3.0], [2.0, 0.0, 4.0]),  # a zero b_i
    ],
)
def test_effect_undefined_for_non_positive(a, b):
    c = compare("np", a, b)
    assert c.effect is None and c.interval is None
    assert c.note.startswith("ratio B/A is defined for positive values only")
    assert format_effect(c) == f"n/a ({c.note})"
    # the verdict does not depend on the effect
    assert c.n_for + c.n_against + c.n_ties == 3


def test_effect_undefined_when_ratio_false():
    c = compare("(2) log growth", *_split(5, 0), ratio=False)
    assert c.verdict == SUPPORTED
    assert c.effect is None and c.interval is None
    assert "no meaningful ratio" in c.note


def test_format_effect():
    c = compare("f", [1.0, 1.0], [1.23, 1.23])
    assert format_effect(c) == "1.23 [1.23, 1.23]"
    small = compare("s", [1000.0], [1.0])
    assert format_effect(small) == "0.001 [0.001, 0.001]"


# --- validation -------------------------------------------------------------------------------


def test_compare_validates_its_inputs():
    with pytest.raises(ValueError, match=r"len\(a\) = 3, len\(b\) = 2"):
        compare("x", [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least one seed"):
        compare("x", [], [])
    with pytest.raises(ValueError, match=r"len\(seeds\) = 2"):
        compare("x", [1, 2, 3], [2, 3, 4], seeds=[0, 1])
    with pytest.raises(ValueError, match="distinct"):
        compare("x", [1, 2], [2, 3], seeds=[0, 0])
    with pytest.raises(ValueError, match="1-D"):
        compare("x", [[1, 2]], [[2, 3]])
    with pytest.raises(TypeError, match="sequence of numbers"):
        compare("x", ["a"], [1.0])


def test_comparison_checks_its_counts():
    d = compare("x", *_split(5, 0)).to_dict()
    d["n_for"] = 4
    with pytest.raises(ValueError, match="5 seeds"):
        Comparison.from_dict(d)
    d = compare("x", *_split(5, 0)).to_dict()
    d["verdict"] = "HOLDS"
    with pytest.raises(ValueError, match="HOLDS"):
        Comparison.from_dict(d)


# --- combine and majority ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "vs, want",
    [
        ([SUPPORTED, SUPPORTED, SUPPORTED], SUPPORTED),
        ([SUPPORTED], SUPPORTED),
        ([SUPPORTED, CONTRADICTED, SUPPORTED], CONTRADICTED),
        ([INCONCLUSIVE, CONTRADICTED], CONTRADICTED),
        ([SUPPORTED, INCONCLUSIVE], INCONCLUSIVE),
        ([INCONCLUSIVE], INCONCLUSIVE),
        ([], INCONCLUSIVE),
    ],
)
def test_combine(vs, want):
    assert combine(vs) == want
    assert combine(iter(vs)) == want


@pytest.mark.parametrize(
    "vs, want",
    [
        ([SUPPORTED, SUPPORTED, INCONCLUSIVE], SUPPORTED),
        ([SUPPORTED, SUPPORTED, CONTRADICTED], SUPPORTED),
        ([CONTRADICTED, CONTRADICTED, SUPPORTED], CONTRADICTED),
        ([SUPPORTED, CONTRADICTED, INCONCLUSIVE], INCONCLUSIVE),
        ([SUPPORTED, CONTRADICTED], INCONCLUSIVE),
        ([SUPPORTED, INCONCLUSIVE], INCONCLUSIVE),
        ([SUPPORTED, SUPPORTED, INCONCLUSIVE, INCONCLUSIVE], INCONCLUSIVE),
        ([SUPPORTED, SUPPORTED, SUPPORTED, INCONCLUSIVE], SUPPORTED),
        ([SUPPORTED], SUPPORTED),
        ([], INCONCLUSIVE),
    ],
)
def test_majority(vs, want):
    assert majority(vs) == want


def test_combine_and_majority_reject_unknown_verdicts():
    for f in (combine, majority):
        with pytest.raises(ValueError, match="supported"):
            f([SUPPORTED, "supported"])


# --- spearman ---------------------------------------------------------------------------------


def test_spearman_hand_values():
    assert spearman([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert spearman([0.0, 0.1, 0.2, 0.3], [9.0, 5.0, 1.0, -3.0]) == -1.0
    # monotone but not linear: still 1
    assert spearman([1, 2, 3, 4, 5], [1, 8, 27, 64, 1000]) == 1.0
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)); ranks y = 2,1,4,3,5: sum d^2 = 4 -> 1 - 24/120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8, abs=1e-15)
    # ties: x ranks 1,2,3; y = [1,1,2] ranks 1.5,1.5,3 -> cov 1.5, var 2 and 1.5 -> 1.5 / sqrt(3) = sqrt(3)/2
    assert spearman([1, 2, 3], [1, 1, 2]) == pytest.approx(math.sqrt(3) / 2, abs=1e-15)
    # ties on both sides: x ranks 1.5,1.5,3,4; y ranks 1,2.5,2.5,4
    # centred: x -1,-1,.5,1.5; y -1.5,0,0,1.5 -> cov 1.5+2.25 = 3.75; vx 4.5, vy 4.5 -> 3.75/4.5
    assert spearman([0, 0, 1, 2], [5, 6, 6, 7]) == pytest.approx(3.75 / 4.5, abs=1e-15)


def test_spearman_matches_the_pearson_of_average_ranks():
    rng = np.random.Generator(np.random.PCG64(3))
    for _ in range(20):
        x = rng.integers(0, 4, size=9).astype(float)
        y = rng.integers(0, 4, size=9).astype(float)

        def ranks(v):
            return np.array([np.sum(v < t) + (np.sum(v == t) + 1) / 2 for t in v])

        rx, ry = ranks(x), ranks(y)
        if rx.std() == 0 or ry.std() == 0:
            assert math.isnan(spearman(x, y))
            continue
        assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1], abs=1e-12)


def test_spearman_nan_cases():
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
    assert math.isnan(spearman([1], [2]))
    assert math.isnan(spearman([], []))
    assert math.isnan(spearman([1, NAN, 3], [1, 2, 3]))
    with pytest.raises(ValueError, match=r"len\(x\) = 2, len\(y\) = 3"):
        spearman([1, 2], [1, 2, 3])


# --- serialisation ----------------------------------------------------------------------------


def test_comparison_round_trip_through_json():
    for c in [
        compare("(1) omega_M < omega_E", [1.0, 2.0, 4.0, 5.0, 10.0], [3.0, 3.0, 5.0, 10.0, 11.0], seeds=[0, 1, 2, 3, 4]),
        compare("undefined", [1.0, 0.0], [2.0, 1.0]),
        compare("no ratio", *_split(3, 2), ratio=False),
    ]:
        back = Comparison.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back == c
        assert isinstance(back.interval, (tuple, type(None))) and isinstance(back.a, tuple)


def test_comparison_with_nan_round_trips():
    c = compare("nan", [1.0, NAN, 2.0], [2.0, 1.0, 3.0])
    s = json.dumps(c.to_dict())
    back = Comparison.from_dict(json.loads(s))
    assert json.dumps(back.to_dict()) == s
    assert math.isnan(back.a[1]) and back.n_missing == 1


def test_claim_verdict_to_dict():
    cs = (compare("(1)", *_split(5, 0)), compare("(2)", *_split(4, 1), ratio=False))
    cv = ClaimVerdict(
        claim="standard-training-small-margin",
        data="digits",
        verdict=combine(c.verdict for c in cs),
        comparisons=cs,
        groups={"largest": {"verdict": SUPPORTED, "layers": {"0": SUPPORTED}}},
        sub_verdicts={"ce+emr": INCONCLUSIVE},
        notes=("a note",),
    )
    assert cv.verdict == INCONCLUSIVE
    d = json.loads(json.dumps(cv.to_dict()))
    assert d["verdict"] == INCONCLUSIVE
    assert [Comparison.from_dict(x) for x in d["comparisons"]] == list(cs)
    assert d["groups"]["largest"]["layers"] == {"0": SUPPORTED}
    assert d["notes"] == ["a note"]
    assert ClaimVerdict.from_dict(d) == cv
    with pytest.raises(ValueError, match="MAYBE"):
        ClaimVerdict("c", "d", "MAYBE", ())
