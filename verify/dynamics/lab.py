"""The lab's plan, its runs and its results file (``python -m verify dynamics``).

A *run* is (data set, architecture, objective, seed); its *role* names what the claims compare it as
(``ce``, ``ce+emr``, ``at(eps3)``, ...). :func:`plan` lists the runs that the chosen claims need, for every
seed; :func:`run_unit` trains one run, measuring every epoch (epoch 0 is the initial network); the driver
of :mod:`verify.jobs.runner` appends its records, one JSON line per run and epoch, to the results file.
Checkpoints go beside the results, in ``<results stem>.ckpt/<run id>/``: ``epoch-NNN.pt``, the eval-mode
module as ``torch.save`` writes it (``python -m verify --model`` reads it), and ``state.pt``, what a resumed
run continues from (weights, optimiser, the records so far).

Round 2 (SPEC.md, "Round 2"; ``lab_config(..., round=2)``, ``python -m verify dynamics --round 2``) plans
the roles of :data:`ROLES2` under :func:`roles2` (TRADES and MART at eps_2 with and without EMR, trades at
eps_3, the official EMR arm, the EMR doses), trains them in the same loop, and at the last epoch adds
AutoAttack to the measures (:func:`verify.dynamics.measures.measure`, ``autoattack``), with the settings of
:class:`verify.dynamics.settings.Round2Settings` recorded in every line (``config["round2"]``). A round-1
config, its plan and its records are what they were before round 2.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import torch

from verify.dynamics.settings import LabSettings, Round2Settings
from verify.dynamics.train import Diverged, Objective, build_model, generator, make_optimizer, save_atomic, train_epoch
from verify.results.records import ResultsError

__all__ = ["lab_config", "DYNAMICS_SCHEMA", "DYNAMICS_RESULTS", "ROLES", "CLAIM_ROLES", "roles", "plan", "run_unit", "run_lab",
           "ROLES2", "CLAIM_ROLES2", "roles2", "claim_roles",
           "read_dynamics", "run_table", "checkpoint_dir", "config_key", "load_data", "eval_set"]

#: The schema id of a lab results record.
DYNAMICS_SCHEMA = "relu-regularizer-verification/dynamics/1"
#: Where ``python -m verify dynamics`` writes by default (never over the sweep's results/verify.jsonl).
DYNAMICS_RESULTS = "results/dynamics.jsonl"

#: Every role, in the order runs are planned.
ROLES = ("ce", "ce+emr", "at(eps1)", "at(eps2)", "at(eps3)", "at(eps2)+emr", "ce+ig", "ce+jac", "ce+cl", "ce+cure")

#: The roles each empirical claim compares.
CLAIM_ROLES = {
    "standard-training-small-margin": ("ce", "ce+emr", "at(eps2)", "at(eps2)+emr"),
    "layer-smoothing": ("ce", "at(eps1)", "at(eps2)", "at(eps3)", "ce+ig", "ce+jac", "ce+cl", "ce+cure", "ce+emr"),
    "confidence-concentration": ("ce", "at(eps3)"),
}


#: Round 2's roles (SPEC.md, "Round 2"), after round 1's: the TRADES and MART defenses with and without EMR,
#: trades at eps_3 (the sub-verdicts of layer-smoothing and confidence-concentration), the official EMR arm
#: and the EMR doses 10 lambda_0 and 100 lambda_0 (lambda_0 is ce+emr and at(eps2)+emr themselves).
ROLES2 = ROLES + ("trades(eps2)", "trades(eps2)+emr", "mart(eps2)", "mart(eps2)+emr", "trades(eps3)",
                  "at(eps2)+emr-official", "ce+emr(x10)", "ce+emr(x100)", "at(eps2)+emr(x10)", "at(eps2)+emr(x100)")

#: The roles each empirical claim compares in round 2.
CLAIM_ROLES2 = {
    "standard-training-small-margin": CLAIM_ROLES["standard-training-small-margin"]
    + ("trades(eps2)", "trades(eps2)+emr", "mart(eps2)", "mart(eps2)+emr", "at(eps2)+emr-official", "ce+emr(x10)",
       "ce+emr(x100)", "at(eps2)+emr(x10)", "at(eps2)+emr(x100)"),
    "layer-smoothing": CLAIM_ROLES["layer-smoothing"] + ("trades(eps3)",),
    "confidence-concentration": CLAIM_ROLES["confidence-concentration"] + ("trades(eps3)",),
}


def claim_roles(config: dict) -> dict:
    """The roles of each claim in the config's round (1 when the config names none)."""
    return CLAIM_ROLES2 if config.get("round", 1) == 2 else CLAIM_ROLES


def roles2(s: LabSettings, r2) -> dict[str, Objective]:
    """Round 2's role -> objective (round 1's roles included), under ``s`` and the round-2 settings ``r2``."""
    e2, e3 = s.eps_grid[1], s.eps_grid[2]
    emr = dict(reg="emr", lam=s.lam["emr"], T=s.T)
    tr = dict(defense="trades", beta=r2.trades_beta)
    ma = dict(defense="mart", beta=r2.mart_beta)
    out = dict(roles(s))
    out.update({
        "trades(eps2)": Objective(eps=e2, **tr), "trades(eps2)+emr": Objective(eps=e2, **tr, **emr),
        "mart(eps2)": Objective(eps=e2, **ma), "mart(eps2)+emr": Objective(eps=e2, **ma, **emr),
        "trades(eps3)": Objective(eps=e3, **tr),
        "at(eps2)+emr-official": Objective("emr", lam=r2.official_lam, T=r2.official_T, eps=e2,
                                           convention="emr-official"),
    })
    for d in r2.doses[1:]:
        tag = f"x{d:g}"
        out[f"ce+emr({tag})"] = Objective("emr", lam=s.lam["emr"] * d, T=s.T)
        out[f"at(eps2)+emr({tag})"] = Objective("emr", lam=s.lam["emr"] * d, T=s.T, eps=e2)
    return out


def roles(s: LabSettings) -> dict[str, Objective]:
    """Role -> objective under the settings ``s`` (at(0) is ``ce`` itself: PGD with eps = 0 is the clean point)."""
    e1, e2, e3 = s.eps_grid
    emr = dict(reg="emr", lam=s.lam["emr"], T=s.T)
    return {"ce": Objective(), "ce+emr": Objective(**emr),
            "at(eps1)": Objective(eps=e1), "at(eps2)": Objective(eps=e2), "at(eps3)": Objective(eps=e3),
            "at(eps2)+emr": Objective(**emr, eps=e2),
            "ce+ig": Objective("ig", lam=s.lam["ig"]), "ce+jac": Objective("jac", lam=s.lam["jac"]),
            "ce+cl": Objective("cl", lam=s.lam["cl"]), "ce+cure": Objective("cure", lam=s.lam["cure"], h=s.cure_h)}


def run_id(data: str, arch: str, obj: Objective, seed: int) -> str:
    family = data.split(":", 1)[0]
    return f"{family}-{arch}-{obj.id}-s{seed}"


def lab_config(data: str = "digits", *, seeds: int | None = None, claims=None, dtype: str = "float64",
               device: str = "cpu", full: bool = False, epochs: int | None = None, arch: str | None = None,
               settings=None, round: int = 1, round2=None) -> dict:
    """The ``config`` of a lab run (what :func:`run_lab` runs and what resume and merge compare): the data set,
    ``seeds`` (default 5, 10 with ``full``), the empirical ``claims`` (default all three), the dtype and device,
    and the data set's fixed settings (:func:`verify.dynamics.settings.settings_for`, with ``epochs`` and
    ``arch`` overridden for exploration; or ``settings``, a :class:`~verify.dynamics.settings.LabSettings`).

    ``round=2`` adds round 2 (SPEC.md, "Round 2"): ``config["round"] = 2`` and ``config["round2"]``, the
    data set's :class:`~verify.dynamics.settings.Round2Settings` (or ``round2``), its seeds by default (10);
    a round-1 config has neither key, as before round 2 existed.

    >>> cfg = lab_config("synthetic", seeds=1, epochs=2, claims=["confidence-concentration"])
    >>> cfg["data"], cfg["seeds"], cfg["claims"], cfg["settings"]["epochs"]
    ('synthetic', 1, ['confidence-concentration'], 2)
    >>> lab_config("digits", round=2)["seeds"]
    10
    """
    from verify.dynamics.settings import FULL_SEEDS, QUICK_SEEDS, settings_for
    from verify.errors import UnknownNameError

    asked = list(claims) if claims else list(CLAIM_ROLES)
    bad = [c for c in asked if c not in CLAIM_ROLES]
    if bad:
        raise UnknownNameError(f"unknown empirical claim id(s) {', '.join(bad)}; known: {', '.join(CLAIM_ROLES)}")
    claims = [c for c in CLAIM_ROLES if c in asked]
    s = settings if settings is not None else settings_for(data, epochs=epochs, arch=arch, full=full)
    if round not in (1, 2):
        raise ValueError(f"round must be 1 or 2, got {round!r}")
    if round == 1:
        return {"data": data, "seeds": seeds or (FULL_SEEDS if full else QUICK_SEEDS), "claims": claims,
                "dtype": dtype, "device": str(device), "full": bool(full), "settings": s.to_dict()}
    from verify.dynamics.settings import round2_for

    r2 = round2 if round2 is not None else round2_for(data)
    return {"data": data, "seeds": seeds or r2.seeds, "claims": claims, "dtype": dtype, "device": str(device),
            "full": bool(full), "settings": s.to_dict(), "round": 2, "round2": r2.to_dict()}


def plan(config: dict, shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """``config`` (JSON-able: data, seeds, claims, dtype, device, full, settings) is what resume and merge
    compare. The runs of a lab (or of one shard of it), seed by seed, each a plain dict (a unit of the runner)."""
    i_shard, n_shard = shard
    if not (n_shard >= 1 and 0 <= i_shard < n_shard):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i_shard}/{n_shard}")
    s = LabSettings.from_dict(config["settings"])
    if config.get("round", 1) == 2:
        objs, order = roles2(s, Round2Settings.from_dict(config["round2"])), ROLES2
    else:
        objs, order = roles(s), ROLES
    cr = claim_roles(config)
    wanted = [r for r in order if any(r in cr[c] for c in config["claims"])]
    units = []
    for seed in range(config["seeds"]):
        for role in wanted:
            obj = objs[role]
            units.append({"id": run_id(config["data"], s.arch, obj, seed), "role": role, "seed": seed,
                          "objective": obj.to_dict(), "config": dict(config)})
    return [dict(u, shard=f"{i_shard}/{n_shard}") for j, u in enumerate(units) if j % n_shard == i_shard]


def checkpoint_dir(out: str | Path) -> Path:
    """The folder of a results file's checkpoints: ``results/dynamics.jsonl`` -> ``results/dynamics.ckpt``."""
    out = Path(out)
    return out.with_name(out.stem + ".ckpt")


@functools.lru_cache(maxsize=4)
def load_data(name: str):
    """The named data set (:func:`verify.dynamics.data.load_dataset`), loaded once per process."""
    from verify.dynamics.data import load_dataset

    return load_dataset(name)


def eval_set(ds, s: LabSettings, dtype, device):
    """The lab's fixed evaluation set of ``ds``: the first ``s.n_eval`` test points of a permutation seeded by
    the data set's name (the same points for every run, seed and epoch), in ``dtype`` on ``device``."""
    n = min(s.n_eval, ds.x_test.shape[0])
    idx = torch.randperm(ds.x_test.shape[0], generator=generator("eval", ds.name.split(":", 1)[0]))[:n]
    return ds.x_test[idx].to(dtype=dtype, device=device), ds.y_test[idx].to(device)


def _record(unit: dict, epoch: int, metrics: dict, seconds: float, facts: dict, status: str = "ok") -> dict:
    cfg = unit["config"]
    run = {"id": unit["id"], "role": unit["role"], "seed": unit["seed"], "data": cfg["data"],
           "arch": cfg["settings"]["arch"], "objective": unit["objective"], "epochs": cfg["settings"]["epochs"],
           "lab": cfg, **facts}
    if unit.get("shard"):
        run["shard"] = unit["shard"]
    return {"schema": DYNAMICS_SCHEMA, "run": run, "epoch": epoch, "status": status, "metrics": metrics,
            "seconds": round(seconds, 3)}


def run_unit(unit: dict, ckpt_root: str | Path, *, resume: bool = False) -> list[dict]:
    """Train one run (resuming from its ``state.pt`` if ``resume``), measuring at every epoch; return every
    epoch's record (those of the resumed part included). A loss that turns NaN or inf ends the run with a
    ``status: "diverged"`` record naming the epoch; its checkpoints up to the last good epoch are kept."""
    from verify.dynamics.measures import measure
    from verify.results.provenance import precision_flags, run_facts

    cfg = unit["config"]
    s = LabSettings.from_dict(cfg["settings"])
    dtype, device = getattr(torch, cfg["dtype"]), torch.device(cfg["device"])
    ds = load_data(cfg["data"])
    x_tr, y_tr = ds.x_train.to(dtype=dtype, device=device), ds.y_train.to(device)
    x_ev, y_ev = eval_set(ds, s, dtype, device)
    obj = Objective.from_dict(unit["objective"])
    facts = run_facts(cfg["dtype"], str(device), unit["seed"], precision_flags(str(device)))
    model = build_model(s.arch, ds.in_shape, ds.classes, unit["seed"], dtype=dtype, device=device)
    opt = make_optimizer(model, s.lr)
    folder = Path(ckpt_root) / unit["id"]
    state_path = folder / "state.pt"
    records, start = [], 0
    if resume and state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        if st.get("config") != cfg or st.get("objective") != unit["objective"]:
            raise ResultsError(f"{state_path} belongs to a run with other settings; remove it or use another --out")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        # records_json: one string, fast to pickle (older checkpoints: the list)
        records = json.loads(st["records_json"]) if "records_json" in st else st["records"]
        start = st["epoch"]

    radius = None
    if unit["role"] in s.radius_roles and s.radius_points + s.radius_l2_points > 0:
        radius = dict(points=s.radius_points, time_limit=s.radius_time_limit, node_limit=s.radius_node_limit,
                      max_binaries=s.radius_max_binaries, l2_points=s.radius_l2_points,
                      l2_time_limit=s.radius_l2_time_limit, l2_regions=s.radius_l2_regions)

    r2 = Round2Settings.from_dict(cfg["round2"]) if cfg.get("round", 1) == 2 else None
    aa = None if r2 is None else dict(version=r2.autoattack_version, points=r2.autoattack_points,
                                      seed=r2.autoattack_seed)
    steps, step_size = s.train_steps, None
    if obj.defense != "at":                       # TRADES and MART: their inner attack's fixed settings
        steps, step_size = r2.inner_steps, r2.inner_step_size

    def evaluate(epoch):
        return measure(model, x_ev, y_ev, eps_grid=s.eps_grid, attack_steps=s.eval_steps,
                       attack_restarts=s.eval_restarts, box=ds.box, n_spectra=s.n_spectra,
                       generator=generator("measure", unit["seed"], epoch), keep_points=epoch == s.epochs,
                       radius=radius if epoch == s.epochs else None,
                       autoattack=aa if epoch == s.epochs else None)

    def save(epoch):
        model.eval()
        save_atomic(model, folder / f"epoch-{epoch:03d}.pt")
        model.train()
        save_atomic({"config": cfg, "objective": unit["objective"], "epoch": epoch, "model": model.state_dict(),
                     "optim": opt.state_dict(), "records_json": json.dumps(records)}, state_path)

    if not records:
        t0 = time.perf_counter()
        records.append(_record(unit, 0, evaluate(0), time.perf_counter() - t0, facts))
        save(0)
    for epoch in range(start + 1, s.epochs + 1):
        t0 = time.perf_counter()
        eps = s.train_eps(obj.eps, epoch) if obj.eps > 0 else None
        try:
            train = train_epoch(model, opt, obj, x_tr, y_tr, batch_size=s.batch_size,
                                order=generator("order", unit["seed"], epoch),
                                attack_gen=generator("attack", unit["seed"], epoch, obj.id),
                                attack_steps=steps, box=ds.box, run_id=unit["id"], epoch=epoch,
                                attack_eps=eps, attack_step_size=step_size)
            if eps is not None:
                train["train_eps"] = eps
        except Diverged as exc:
            print(f"error: {exc}; kept the checkpoint of epoch {epoch - 1} in {folder}; the other runs go on",
                  file=sys.stderr)
            records.append(_record(unit, epoch, {"message": str(exc)}, time.perf_counter() - t0, facts,
                                   status="diverged"))
            return records
        metrics = evaluate(epoch)
        metrics.update(train)
        records.append(_record(unit, epoch, metrics, time.perf_counter() - t0, facts))
        save(epoch)
    return records


# ---- the results file -------------------------------------------------------------------------------

def read_dynamics(path: str | Path) -> list[dict]:
    """The records of a lab results file (a cut-off line is skipped with a warning)."""
    from verify.results.records import json_lines

    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"no lab results file {str(path)!r}; run `python -m verify dynamics` to make one")
    out = []
    for n, rec in json_lines(path, "lab results"):
        if not isinstance(rec, dict) or rec.get("schema") != DYNAMICS_SCHEMA:
            what = rec.get("schema") if isinstance(rec, dict) else None
            raise ResultsError(f"{path}:{n}: not a lab results record (schema {what!r}; expected {DYNAMICS_SCHEMA!r})"
                               + ("; this is a sweep's results file: python -m verify reads it" if what and
                                  "dynamics" not in str(what) else ""))
        out.append(rec)
    if not out:
        raise ResultsError(f"lab results file {str(path)!r} holds no complete record")
    return out


def config_key(cfg: dict) -> dict:
    """A lab configuration without its shard: what two shards of one run share."""
    return {k: v for k, v in cfg.items() if k != "shard"}


def run_table(records: list[dict]) -> dict:
    """{"config", "settings", "runs", "diverged"}: ``runs`` maps role -> seed (both in plan order) -> the list of epoch metrics
    (index = epoch; None where missing); ``diverged`` maps a diverged run's id to its message."""
    if not records:
        raise ResultsError("no records")
    cfgs = {repr(sorted(config_key(r["run"]["lab"]).items())) for r in records}
    if len(cfgs) > 1:
        raise ResultsError("the records come from lab runs with different settings; report them separately")
    cfg = records[0]["run"]["lab"]
    E = cfg["settings"]["epochs"]
    table: dict = {}
    diverged = {}
    for r in records:
        role, seed = r["run"]["role"], r["run"]["seed"]
        row = table.setdefault(role, {}).setdefault(seed, [None] * (E + 1))
        if r.get("status") == "diverged":
            diverged[r["run"]["id"]] = r["metrics"].get("message", "")
            continue
        row[r["epoch"]] = r["metrics"]
    # in the order of ROLES and of the seeds, whatever order parallel workers finished in
    rank = lambda role: (ROLES2.index(role) if role in ROLES2 else len(ROLES2), role)
    table = {role: dict(sorted(table[role].items())) for role in sorted(table, key=rank)}
    return {"config": cfg, "settings": LabSettings.from_dict(cfg["settings"]), "runs": table, "diverged": diverged}


def _done(path: Path, config: dict) -> set:
    from verify.results.records import finished_records

    records = finished_records(read_dynamics, path)
    keys = set()
    for rec in records:
        if config_key(rec["run"]["lab"]) != config_key(config):
            raise ResultsError(f"{path} was written by a lab run with other settings; use another --out file, or "
                               f"the same options to resume")
        keys.add((rec["run"]["id"], rec["epoch"]) if rec.get("status") != "diverged" else (rec["run"]["id"], "end"))
    return keys


def run_lab(out: str | Path, config: dict, *, shard=(0, 1), resume: bool = False, progress: bool = True,
            executor=None):
    """Run (or, with ``resume``, continue) the plan of ``config``, appending to ``out``; return the driver's
    :class:`~verify.jobs.runner.DriveResult`.

    ``executor`` (:func:`verify.jobs.executors.make_executor`) runs the runs elsewhere: each run with one
    intra-op torch thread wherever it runs (:func:`verify.jobs.runner.drive`), so the numbers do not depend on
    where. The workers write the checkpoints, into ``<out stem>.ckpt`` (an absolute path: on a cluster it
    must be a folder that every worker sees); the driver alone writes ``out``. The verdicts come from the
    records: :func:`verify.dynamics.report.judge_all` on :func:`read_dynamics` (``python -m verify dynamics
    report FILE`` prints them).

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "lab.jsonl"
    >>> config = lab_config("synthetic", seeds=1, epochs=2, claims=["confidence-concentration"])
    >>> result = run_lab(out, config, progress=False)
    >>> result.failures, sorted({r["run"]["role"] for r in read_dynamics(out)})
    ([], ['at(eps3)', 'ce'])
    """
    from verify.jobs.runner import drive
    from verify.results.records import drop_cut_lines, keep_previous

    out = Path(out)
    planned = plan(config, shard)
    if not resume:
        keep_previous(out)
    done = _done(out, config) if resume else set()
    E = config["settings"]["epochs"]
    finished = lambda u: (u["id"], E) in done or (u["id"], "end") in done
    units = [u for u in planned if not finished(u)]
    if resume:
        print(f"resuming: {len(planned) - len(units)} of {len(planned)} runs already in {out}; running the other "
              f"{len(units)} (each from its last checkpoint)")
        if out.exists():
            dropped = drop_cut_lines(out)
            if dropped:
                print(f"note: dropped {dropped} cut-off line(s) of {out} (an interrupted write)")
    ckpt = checkpoint_dir(out).resolve()              # absolute: a worker may run in another folder
    work = functools.partial(run_unit, ckpt_root=str(ckpt), resume=resume)
    return drive(units, work, out, executor=executor, keep=lambda r: (r["run"]["id"], r["epoch"]) not in done,
                 progress=progress, desc="runs", unit_name="run", label=lambda u: u["id"])


