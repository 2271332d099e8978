"""The lab's fixed settings per data set: the epsilon grid, the attacks, lambda, T, h, the network and the
optimiser, each with its reason. They are constants, chosen before any verdict was computed and recorded
in every results line; a verdict never depends on a number chosen after a run (SPEC.md, "Empirical
claims").

How lambda was fixed (once, before any verdict was computed): each regularizer's weight is the power of
ten at or below 1 / mean_x R(x) on a *pilot* network, trained with plain ``ce`` on the data set by this
lab's loop with a seed outside the verdict's seeds (seed 100), at its last epoch, over the evaluation
points. So the term lambda mean_i R(x_i) that training adds is at most about 1 nat (the scale of the
cross-entropy at initialisation) where plain training ends: large enough to matter, too small to swamp
the data term. (The mean, not the median: the loss adds the mean, and R-IG's median sits at confident
points where it is ~1e-4 while its mean is ~25.) ``python -m verify dynamics --pilot`` measures them
again. The pilot values are in :data:`PILOT`.

>>> s = settings_for("digits")
>>> s.eps_grid, s.middle_eps
((0.03125, 0.0625, 0.125), 0.0625)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from verify.errors import UnknownNameError

__all__ = ["LabSettings", "SETTINGS", "settings_for", "PILOT", "QUICK_SEEDS", "FULL_SEEDS", "lam_from_pilot",
           "Round2Settings", "ROUND2", "round2_for", "AUTOATTACK_VERSIONS"]

#: Seeds of the quick run (SPEC.md: with 5 seeds, p < 0.05 needs all 5 to agree) and of --full.
QUICK_SEEDS = 5
#: The seeds of a verdict run of a named data set (the quick default keeps fewer).
FULL_SEEDS = 10


@dataclass(frozen=True)
class LabSettings:
    """Everything a lab run on one data set fixes in advance (see the module docstring)."""

    data: str
    arch: str
    epochs: int
    batch_size: int
    lr: float
    eps_grid: tuple                 # eps_1 < eps_2 < eps_3 (eps_0 = 0 is plain training)
    train_steps: int                # PGD steps in adversarial training (step 2.5 eps / steps)
    eval_steps: int                 # PGD steps of the robust-accuracy measure
    eval_restarts: int
    lam: dict                       # regularizer -> lambda
    T: float                        # EMR temperature
    cure_h: float                   # CURE step h (z has unit l2 norm, so each input moves by h / sqrt(D))
    n_eval: int                     # evaluation points drawn from the test split
    n_spectra: int                  # the first n_spectra of them give the layer spectra
    reasons: dict = field(default_factory=dict)
    # the exact radius (verify.robust), at the last epoch only, on the first points of the evaluation set
    radius_points: int = 0          # l-inf: complete verification at each eps (exact robust accuracy)
    radius_max_binaries: int = 0    # l-inf: programs with more binaries are not solved (undecided)
    radius_node_limit: int = 0      # l-inf: branch-and-bound nodes per program
    radius_time_limit: float = 0.0  # seconds per point (l-inf), all eps together: a safety stop
    radius_l2_points: int = 0       # l2: the exact radius beside the effective margin
    radius_l2_regions: int = 0      # l2: regions visited per point
    radius_l2_time_limit: float = 0.0  # seconds per point (l2): a safety stop
    radius_roles: tuple = ()        # the roles measured (the others skip it)
    # at(eps) and at(eps)+emr: the training budget grows linearly over the first ceil(eps_warmup * epochs)
    # epochs (eps * e / W at epoch e) and is eps from then on; 0 = the full eps from the first step
    eps_warmup: float = 0.0

    def warmup_epochs(self) -> int:
        """W, the epochs over which adversarial training's budget grows (0: none)."""
        return max(1, math.ceil(self.eps_warmup * self.epochs)) if self.eps_warmup > 0 else 0

    def train_eps(self, eps: float, epoch: int) -> float:
        """The l-inf budget that adversarial training at ``eps`` attacks with in ``epoch`` (1-based).

        >>> s = replace(settings_for("mnist-5k"), epochs=20)
        >>> s.warmup_epochs(), [s.train_eps(0.3, e) for e in (1, 5, 6, 20)]
        (5, [0.06, 0.3, 0.3, 0.3])
        >>> settings_for("digits").train_eps(0.125, 1)
        0.125
        """
        W = self.warmup_epochs()
        return eps if W == 0 or epoch >= W else round(eps * epoch / W, 12)

    @property
    def middle_eps(self) -> float:
        return self.eps_grid[len(self.eps_grid) // 2]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eps_grid"] = list(self.eps_grid)
        d["radius_roles"] = list(self.radius_roles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LabSettings":
        return cls(**dict(d, eps_grid=tuple(d["eps_grid"]), radius_roles=tuple(d.get("radius_roles", ()))))


def lam_from_pilot(means: dict) -> dict:
    """lambda_R = the power of ten at or below 1 / mean R on the pilot network."""
    return {r: 10.0 ** math.floor(math.log10(1.0 / m)) for r, m in means.items()}


#: Mean R(x) per regularizer on the pilot network of each data set (``ce``, seed 100, last epoch, its
#: evaluation points, float64 on the CPU), measured once by ``python -m verify dynamics --pilot`` before
#: any verdict (2026-12-02).
PILOT: dict = {
    "digits": {"ig": 25.58, "jac": 2301.9, "cl": 45321.0, "cure": 204.0, "emr": 155.5},
    # 20 epochs, final clean accuracy 0.928 (2026-12-02, before any mnist-5k verdict)
    "mnist-5k": {"ig": 14.56, "jac": 1011.0, "cl": 19990.0, "cure": 93.43, "emr": 94.05},
    # 30 epochs, final clean accuracy 0.590, still rising (an MLP on MNIST-1D; 2026-12-02, before any verdict)
    "mnist1d": {"ig": 6.405, "jac": 265.5, "cl": 5104.0, "cure": 12.46, "emr": 14.97},
}

#: Whose pilot a data set without one of its own borrows: the full MNIST files borrow the 5,000 real MNIST
#: digits' (the same images and network); the others borrow the digits'.
_PILOT_STAND_IN = {"mnist": "mnist-5k"}

_COMMON_REASONS = {
    "optimiser": "Adam (lr as given), no weight decay: plain standard training, so that nothing but the "
                 "objective differs between paired runs; weight decay would itself limit the weight norm",
    "T": "T = 1: the EMR weights p~ are then the softmax itself (the official code's form with no extra "
         "temperature)",
    "train_steps": "PGD steps of size 2.5 eps / steps with a random start (Madry et al.'s rule, SPEC.md)",
    "eval_steps": "twice the training steps and one restart: an attack stronger than the one trained against",
    "n_eval": "a fixed evaluation set from the test split, the same at every epoch and in every run",
    "n_spectra": "the layer spectra take one eigenproblem per point and layer, most of a measure's time: they "
                 "are summarised over the first 64 evaluation points",
    "lam": "lambda R ~ 1 nat on the pilot network (module docstring)",
    "cure_h": "h = eps_2 sqrt(D): CURE's unit-norm direction then moves each input by eps_2, the middle "
              "budget, so the curvature is regularized at the scale of the attacks",
    "radius_roles": "the exact radius is measured on the runs whose robustness the margin claim compares (ce, "
                    "ce+emr, at(eps2), at(eps2)+emr): exact robust accuracy beside PGD's there, and whether EMR "
                    "raises the true radius; the other roles skip it, to keep the quick run's time",
    "radius_points": "complete l-inf verification (a MILP per point and eps): 16 points per run, at the last "
                     "epoch only, keep the quick run near its budget",
    "radius_max_binaries": "a MILP with more than 40 binaries (unstable units over the eps-box) is not tried: on a "
                           "ce-trained digits MLP (python -m verify.bench.radius --lab 16 --no-digits --sizes mlp8) "
                           "the programs with up to 40 binaries all finished in under 1 s, those with 41 to 60 took "
                           "7 to 8 s, and of 13 with more than 60 one finished within 10 s; the programs of the two "
                           "smaller budgets mostly have no binary at all (bounds alone decide them, in milliseconds). "
                           "Points left this way are counted as undecided, never guessed; a budget of binaries and "
                           "nodes, unlike a time limit, gives the same result on every machine",
    "radius_node_limit": "500 branch-and-bound nodes per MILP: the deterministic work budget",
    "radius_time_limit": "a safety stop of 2 s per point (all eps together); a result that reached it depends on "
                         "the machine and is counted in time_limit_reached",
    "radius_l2_points": "the exact l2 radius (a search over activation regions) finishes only where few regions lie "
                        "within the radius; 8 points per run show how often it does, and where it does not, a "
                        "checked witness still bounds gamma / rho_2 from below",
    "radius_l2_regions": "10 regions per point: the deterministic work budget (~50 ms per region on the digits MLP)",
    "radius_l2_time_limit": "a safety stop of 2 s per point",
    "eps_warmup": "none: adversarial training attacks with the full eps from its first step",
}


def _make(data: str, D: int, *, arch: str, epochs: int, batch_size: int, lr: float, eps_grid: tuple,
          train_steps: int, n_eval: int, reasons: dict, radius: tuple = (16, 40, 500, 2.0, 8, 10, 2.0),
          eps_warmup: float = 0.0) -> LabSettings:
    eps2 = eps_grid[len(eps_grid) // 2]
    stand_in = data if data in PILOT else _PILOT_STAND_IN.get(data, "digits")
    pilot = PILOT[stand_in]
    return LabSettings(data=data, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, eps_grid=eps_grid,
                       train_steps=train_steps, eval_steps=2 * train_steps, eval_restarts=1,
                       lam=lam_from_pilot(pilot), T=1.0, cure_h=round(eps2 * math.sqrt(D), 6), n_eval=n_eval,
                       n_spectra=min(64, n_eval), radius_points=min(radius[0], n_eval), radius_max_binaries=radius[1],
                       radius_node_limit=radius[2], radius_time_limit=radius[3],
                       radius_l2_points=min(radius[4], n_eval), radius_l2_regions=radius[5],
                       radius_l2_time_limit=radius[6],
                       radius_roles=("ce", "ce+emr", "at(eps2)", "at(eps2)+emr"), eps_warmup=eps_warmup,
                       reasons={**_COMMON_REASONS, **reasons,
                                "lam_pilot": "pilot means of " + ("this data set" if data in PILOT else
                                                                    f"{stand_in} (no pilot of its own yet)")})


#: Why MNIST's adversarial training ramps its budget up (fixed 2026-12-02, from training runs alone, before
#: any verdict with it; the verdict rule, the grid, lambda, T and the epochs are unchanged).
_MNIST_WARMUP = (
    "the budget grows linearly over the first quarter of the epochs (5 of 20: eps/5, 2eps/5, ... eps), then stays "
    "at eps, so the whole of M to E trains at the full budget. Without it at(0.3) does not learn: on mnist-5k its "
    "training loss stayed at ln 10 (the uniform prediction) for all 20 epochs in all 5 verdict seeds of the first "
    "run, and in the pilot seed 100, with clean accuracy 0.09 to 0.13, and at(0.2) did the same in seed 3. With the "
    "ramp, seeds 100, 101, 102 (outside the verdict's) learn: at(0.3) ends at clean accuracy 0.68 to 0.73 (PGD "
    "training accuracy 0.25), at(0.2) and at(0.2)+emr at 0.90 to 0.91. The criterion, fixed before those pilot runs, "
    "was learning alone (clean accuracy far above chance), never a verdict")

#: The settings of each named data set; the user's files (mnist:DIR ...) use their family's.
SETTINGS: dict[str, LabSettings] = {
    "digits": _make(
        "digits", 64, arch="mlp64x64x64", epochs=20, batch_size=64, lr=3e-3, eps_grid=(1 / 32, 1 / 16, 1 / 8),
        train_steps=5, n_eval=256,
        reasons={"eps_grid": "the digits' pixels take 17 grey levels (steps of 1/16 on [0, 1]): half a level, one "
                             "level and two levels",
                 "arch": "three rectified layers (so 'most layers' of layer-smoothing is a 2-of-3 majority); "
                         "64 units, the input's size",
                 "epochs": "20 epochs at lr 3e-3: plain training reaches ~94 % test accuracy by the middle epoch "
                           "M = 10 (pilot), so M to E is the late regime the margin claim is about; the quick "
                           "run's time budget (under 4 minutes for 50 runs) rules out more",
                 "n_eval": "256 of the 445 test digits, the same at every epoch and in every run (the layer "
                           "spectra cost one eigenproblem per point and layer)"}),
    "mnist-5k": _make(
        "mnist-5k", 784, arch="mlp128x128", epochs=20, batch_size=64, lr=1e-3, eps_grid=(0.1, 0.2, 0.3),
        train_steps=5, n_eval=512, eps_warmup=0.25,
        reasons={"eps_grid": "MNIST's customary l-inf budgets, up to Madry et al.'s eps = 0.3",
                 "arch": "a small MLP that reaches > 90 % on 4,000 MNIST digits",
                 "epochs": "20 epochs on 4,000 digits",
                 "eps_warmup": _MNIST_WARMUP}),
    "mnist": _make(
        "mnist", 784, arch="mlp128x128", epochs=10, batch_size=128, lr=1e-3, eps_grid=(0.1, 0.2, 0.3),
        train_steps=5, n_eval=1024, eps_warmup=0.25,
        reasons={"eps_grid": "MNIST's customary l-inf budgets, up to Madry et al.'s eps = 0.3",
                 "arch": "a small MLP (> 97 % on MNIST with plain training)",
                 "epochs": "10 epochs of 60,000 digits",
                 "eps_warmup": _MNIST_WARMUP + "; carried over to the full MNIST files untried there"}),
    "fashion-mnist": _make(
        "fashion-mnist", 784, arch="mlp128x128", epochs=10, batch_size=128, lr=1e-3, eps_grid=(0.025, 0.05, 0.1),
        train_steps=5, n_eval=1024,
        reasons={"eps_grid": "Fashion-MNIST's customary l-inf budgets, up to 0.1",
                 "arch": "a small MLP", "epochs": "10 epochs of 60,000 images"}),
    "cifar10": _make(
        "cifar10", 3 * 32 * 32, arch="cnn16x32", epochs=10, batch_size=128, lr=1e-3,
        eps_grid=(2 / 255, 4 / 255, 8 / 255), train_steps=5, n_eval=512,
        reasons={"eps_grid": "CIFAR-10's customary l-inf budgets, up to 8/255",
                 "arch": "a small CNN (conv + ReLU + max pool, twice)", "epochs": "10 epochs"}),
    "mnist1d": _make(
        "mnist1d", 40, arch="mlp64x64x64", epochs=30, batch_size=64, lr=1e-3, eps_grid=(0.075, 0.15, 0.3),
        train_steps=5, n_eval=512,
        reasons={"eps_grid": "the features have standard deviation ~1 and no box: the same fractions of it as "
                             "digits' grid is of its pixel spread (~0.08, 0.17, 0.33)",
                 "arch": "as digits: three rectified layers of 64", "epochs": "30 epochs on 4,000 sequences"}),
    "synthetic": _make(
        "synthetic", 16, arch="mlp32x32", epochs=6, batch_size=64, lr=3e-3, eps_grid=(0.05, 0.1, 0.2),
        train_steps=3, n_eval=128,
        reasons={"eps_grid": "small against the blobs' separation; for the tests", "arch": "tiny, for the tests",
                 "epochs": "a few, for the tests", "radius_points": "4 points (2 for l2), small budgets: for the tests"},
        radius=(4, 40, 200, 10.0, 2, 50, 10.0)),
}


def settings_for(data: str, *, epochs: int | None = None, arch: str | None = None, full: bool = False,
                 cnn: bool = False) -> LabSettings:
    """The settings of a data set name (``mnist:DIR`` -> ``mnist``), with ``--epochs`` / ``--arch`` overrides
    (recorded in the results like every other setting), ``--full`` (a wider network and twice the
    evaluation attack's steps, with a second restart) and ``cnn`` (the data set's fixed small CNN of round 2,
    :attr:`Round2Settings.cnn_arch`, a fixed setting, not an override)."""
    family = data.split(":", 1)[0]
    if family not in SETTINGS:
        raise UnknownNameError(f"no lab settings for the data set {data!r}; known: {', '.join(SETTINGS)}")
    s = SETTINGS[family]
    if full:
        wide = {"mlp64x64x64": "mlp256x256x256", "mlp128x128": "mlp512x512x512", "mlp32x32": "mlp64x64",
                "cnn16x32": "cnn32x64"}.get(s.arch, s.arch)
        s = replace(s, arch=wide, eval_steps=2 * s.eval_steps, eval_restarts=2,
                    reasons={**s.reasons, "full": "--full: a wider network, a stronger evaluation attack"})
    if epochs is not None:
        s = replace(s, epochs=int(epochs), reasons={**s.reasons, "epochs": f"set by --epochs {epochs}"})
    if cnn:
        if arch is not None:
            raise ValueError("settings_for: give arch or cnn, not both")
        c = round2_for(data).cnn_arch
        if c is None:
            raise ValueError(f"{data} is not an image data set: it has no CNN (round 2 judges it with its MLP)")
        s = replace(s, arch=c, reasons={**s.reasons, "arch": ROUND2[family].reasons["cnn_arch"]})
    if arch is not None:
        s = replace(s, arch=arch, reasons={**s.reasons, "arch": f"set by --arch {arch}"})
    return s


# ---- round 2 (SPEC.md, "Round 2: the papers' own comparisons", fixed 2026-12-07 before any of its runs) ----

#: AutoAttack's versions as the lab names them: ``standard`` (APGD-CE, APGD-T, FAB-T, Square) and ``fast``
#: (APGD-CE + APGD-T only).
AUTOATTACK_VERSIONS = ("standard", "fast")


@dataclass(frozen=True)
class Round2Settings:
    """What round 2 adds to a data set's :class:`LabSettings`, each with its reason (``reasons``): the
    parameters of TRADES and MART, the official EMR arm, the EMR doses, AutoAttack's version and budgets,
    the small CNN, and the number of seeds. Recorded in every round-2 results line (``config["round2"]``);
    round 1's settings and records are unchanged."""

    data: str
    trades_beta: float
    mart_beta: float
    inner_steps: int                # PGD steps of the TRADES and MART inner maximisation
    inner_step_size: float | None   # None: 2.5 eps / steps, as at(eps)
    official_lam: float             # the official EMR arm: convention="emr-official", lambda and T
    official_T: float
    doses: tuple                    # lambda_EMR = lambda_0 times each
    autoattack_version: str         # one of AUTOATTACK_VERSIONS
    autoattack_points: int          # the first evaluation points AutoAttack runs on, at the last epoch
    autoattack_seed: int
    cnn_arch: str | None            # the data set's small CNN (None: not an image data set)
    seeds: int
    reasons: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["doses"] = list(self.doses)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Round2Settings":
        return cls(**dict(d, doses=tuple(d["doses"])))


_R2_REASONS = {
    "trades_beta": "beta = 6, the value customarily used with TRADES (SPEC.md)",
    "mart_beta": "beta = 6, the value customarily used with MART (SPEC.md)",
    "inner_steps": "the same PGD steps as at(eps) trains with (settings.train_steps) and the same step rule, so "
                   "that the three defenses differ only in the loss they attack and train with (TRADES: the KL "
                   "term; MART: the cross-entropy)",
    "inner_step_size": "2.5 eps / steps with a random start, as at(eps) (Madry et al.'s rule); the KL attack "
                       "needs the random start, since KL(p(x) || p(x')) and its gradient vanish at x' = x",
    "official": "the official EMR configuration of adversarial training (SPEC.md): convention 'emr-official' "
                "(lambda (1/B^2) sum_i ||J_i^T p~_i||^2), lambda = 3, T = 40, against at(eps2)",
    "doses": "lambda_EMR in {lambda_0, 10 lambda_0, 100 lambda_0}, lambda_0 the fixed value (SPEC.md)",
    "autoattack_points": "every evaluation point, the same points as PGD's robust accuracy",
    "autoattack_seed": "a fixed seed: AutoAttack's draws (its random starts, Square's proposals) are the same in "
                       "every run; they run on torch's global generator, which the lab saves and restores around them",
    "seeds": "10 seeds: with the one-sided sign test p < 0.05 then needs 9 of 10 to agree (SPEC.md)",
    "cnn_arch": "the small CNN: two convolutions (3x3, zero padding 1) each followed by a rectifier and a 2x2 max "
                "pooling, then a linear head (parse_arch's cnnC1xC2, 16 and 32 channels); every rectified layer, "
                "the convolutional ones included, counts as a layer for layer-smoothing",
}

_AA_STANDARD = ("the standard version (APGD-CE, APGD-T, FAB-T, Square with 5000 queries): on this data set's "
                "small networks and evaluation set it fits the lab's time (on digits, 14 to 17 s per run of 256 "
                "points at the three budgets on one CPU thread, measured 2026-12-07 on the ce and at(eps2) networks "
                "of a round-1 quick run, seed 0)")
_AA_FAST = ("the fast pair APGD-CE + APGD-T: the standard version's FAB-T and Square (5000 queries per point) on "
            "{n} evaluation points, at three budgets, in every run of 10 seeds, are expected to take most of the "
            "lab's time (an estimate from the digits timing, not measured on this data set); fixed by that cost "
            "before any round-2 run, never by a result")


def _r2(data: str, *, cnn: str | None, version: str, points: int, steps: int) -> Round2Settings:
    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"autoattack version must be one of {AUTOATTACK_VERSIONS}, got {version!r}")
    return Round2Settings(
        data=data, trades_beta=6.0, mart_beta=6.0, inner_steps=steps, inner_step_size=None, official_lam=3.0,
        official_T=40.0, doses=(1.0, 10.0, 100.0), autoattack_version=version, autoattack_points=points,
        autoattack_seed=20261207, cnn_arch=cnn, seeds=FULL_SEEDS,
        reasons={**_R2_REASONS, "autoattack_version": _AA_STANDARD if version == "standard" else _AA_FAST.format(n=points),
                 **({} if cnn else {"cnn_arch": "not an image data set: no CNN"})})


#: Round 2's settings per data set (fixed 2026-12-07, before any round-2 run).
ROUND2: dict[str, Round2Settings] = {
    name: _r2(name, cnn=cnn, version=version, points=SETTINGS[name].n_eval, steps=SETTINGS[name].train_steps)
    for name, cnn, version in (
        ("digits", "cnn16x32", "standard"),
        ("mnist-5k", "cnn16x32", "standard"),
        ("mnist", "cnn16x32", "fast"),
        ("fashion-mnist", "cnn16x32", "fast"),
        ("cifar10", "cnn16x32", "fast"),
        ("mnist1d", None, "standard"),
        ("synthetic", None, "standard"),
    )
}


def round2_for(data: str) -> Round2Settings:
    """Round 2's settings of a data set name (``mnist:DIR`` -> ``mnist``).

    >>> r = round2_for("digits")
    >>> r.trades_beta, r.mart_beta, r.official_lam, r.official_T, r.autoattack_version, r.cnn_arch
    (6.0, 6.0, 3.0, 40.0, 'standard', 'cnn16x32')
    """
    family = data.split(":", 1)[0]
    if family not in ROUND2:
        raise UnknownNameError(f"no round-2 settings for the data set {data!r}; known: {', '.join(ROUND2)}")
    return ROUND2[family]
