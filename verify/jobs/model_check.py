"""Check every claim on the user's own network and inputs: :func:`check_model`, the Python call behind
``python -m verify --model``.

The model is checked where it is (its device, unless ``device`` says otherwise) in its own dtype and, when
its weights are float32 (or narrower), in float64 too: the very same network, since such weights and inputs
convert exactly to float64, with rounding errors about 2^29 times smaller. The labels default to the
model's predictions. The result is a :class:`~verify.results.report.CheckReport`.

>>> import torch
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).double()
>>> report = check_model(model, torch.randn(6, 3, dtype=torch.float64), claims=["input-gradient", "gram-unification"])
>>> report.ok, [r.status for r in report.summary()]
(True, ['HOLDS', 'HOLDS'])
>>> print(report.table().splitlines()[0].split()[:3])
['claim', 'tag', 'networks']
"""

from __future__ import annotations

import copy
import math
import time

__all__ = ["check_model", "user_dtypes", "dtype_name", "converts_exactly", "also_float64", "kink_line", "kink_decision"]

DTYPES = ("float64", "float32")


def also_float64(model, dtype, asked: str) -> bool:
    """Whether a check without a dtype choice also checks the same network in float64: when the model's own
    dtype is narrower (float32, float16, bfloat16 weights convert exactly to float64)."""
    import torch

    own = {t.dtype for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()}
    return (asked == "both" and dtype != torch.float64 and bool(own)
            and all(converts_exactly(d, torch.float64) for d in own))


def kink_decision(model, x):
    """The re-decision of the batch's points within rounding of a kink
    (:class:`~verify.numerics.kinks.KinkDecision`: ``.summary()`` one line, ``.lines()`` the layers and units
    that leave points unjudged)."""
    from verify.numerics.linearize import linearize

    return linearize(model, x).kinks


def kink_line(model, x) -> str:
    """What the re-decision made of the batch's points within rounding of a kink (one line)."""
    return kink_decision(model, x).summary()


def _device_of(model):
    import torch

    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def _asked(dtypes) -> list[str]:
    """The runs a ``dtypes`` argument asks for: ``["both"]`` (None: the model's own, and float64 too when it
    converts exactly), or the named dtypes, each checked."""
    if dtypes is None or dtypes == "both":
        return ["both"]
    names = [dtypes] if isinstance(dtypes, str) else list(dtypes)
    out = []
    for d in names:
        name = str(d).replace("torch.", "")
        if name not in DTYPES:
            from verify.errors import UnknownNameError

            raise UnknownNameError(f"dtypes: expected None, 'float64', 'float32' or a list of them, got {d!r}")
        out.append(name)
    return list(dict.fromkeys(out))


def check_model(model, x, y=None, *, claims=None, dtypes=None, device=None, seed: int = 0, name: str | None = None,
                log=None, option: str = "dtypes="):
    """Check every numerically checkable claim (or those of ``claims``) on ``model`` at the inputs ``x``
    (a batch, ``(B, *input shape)``) with labels ``y`` (default: the model's predictions) and return a
    :class:`~verify.results.report.CheckReport` (``.ok``, ``.table()``, ``.records``, ``.save(path)``).

    ``dtypes``: None checks the model in its own dtype and, when its weights convert exactly to float64, in
    float64 too (the same network, with smaller rounding errors); ``"float64"``, ``"float32"`` or a list of
    them converts the model and inputs to each (a note says when that rounds the weights). ``device``: where
    to check (default: where the model is). ``seed`` seeds the checks' random draws; ``name`` names the
    network in the records (default: its class name); ``log`` (e.g. ``print``) is called with each note and
    with each dtype's kink line as it finishes; ``option`` is how the notes name the dtype choice (the command
    line passes ``"--dtype "``).

    Raises :class:`~verify.errors.LabelError` for labels that are not integers in range (float labels are
    refused, never truncated), :class:`~verify.errors.UnknownNameError` for an unknown claim id, and the
    errors of :func:`verify.linearize` for a model outside the theory or inputs that do not fit it.
    """
    import torch

    from verify.checkers import CHECKERS, run_checks
    from verify.errors import UnknownNameError, check_labels
    from verify.results.provenance import precision_flags, run_facts
    from verify.results.records import network_record
    from verify.results.report import CheckReport

    unknown = [c for c in claims or [] if c not in CHECKERS]
    if unknown:
        raise UnknownNameError(f"unknown or not numerically checkable claim id(s) {', '.join(unknown)}; "
                               f"checkable: {', '.join(CHECKERS)}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a tensor of inputs (B, *input shape), got {type(x).__name__}")
    device = torch.device(device) if device is not None else _device_of(model)
    name = name or type(model).__name__
    say = log or (lambda line: None)
    runs, notes = [], []
    for asked in _asked(dtypes):
        m, xx, dtype, said = user_dtypes(model if asked == "both" else copy.deepcopy(model), x, asked,
                                         option=option)
        notes += said
        runs.append((m, xx, dtype))
        if also_float64(m, dtype, asked):
            from verify.numerics.bounds import unit_roundoff

            dn = dtype_name(dtype)
            ratio = round(math.log2(unit_roundoff(dtype) / unit_roundoff(torch.float64)))
            notes.insert(0, f"note: checking the {dn} model in {dn} (its own dtype) and in float64 (the very same "
                            f"network: {dn} weights and inputs convert exactly to float64, so the float64 check is "
                            f"of the saved network, with rounding errors about 2^{ratio} times smaller); {option}{dn} "
                            f"or {option}float64 checks one")
            runs.append((copy.deepcopy(m).to(torch.float64), xx.to(torch.float64), torch.float64))  # the same points
    runs = [(m.to(device), xx.to(device), d) for m, xx, d in runs]
    first, x0 = runs[0][0], runs[0][1]
    from verify.numerics.linearize import linearize, model_logits

    if y is None:
        y = model_logits(first, x0).argmax(-1)
    else:
        y = check_labels(y, x0.shape[0], linearize(first, x0).K)
    y = y.to(device)
    for note in notes:
        say(note)
    t0 = time.perf_counter()
    records, diagnoses = [], []
    for m, xx, d in runs:
        gaps = run_checks(m, xx, y, claims=claims, seed=seed, arch=name)
        decision = kink_decision(m, xx)
        line = decision.summary()
        diagnoses += decision.lines()
        say(f"inputs: {line}")
        facts = run_facts(dtype_name(d), str(device), seed, precision_flags(str(device)))
        facts["kinks"] = line
        rec = network_record({"id": name, "index": 0, "device": str(device), "arch": "user"}, facts, gaps)
        rec["gaps"] = gaps
        records.append(rec)
    return CheckReport(records, notes=notes, seconds=time.perf_counter() - t0, diagnoses=diagnoses)


def dtype_name(dtype) -> str:
    """``float32`` for torch.float32."""
    return str(dtype).replace("torch.", "")


def converts_exactly(src, dst) -> bool:
    """Whether every value of dtype ``src`` converts exactly to ``dst``."""
    import torch

    wider = {torch.float64: {torch.float32, torch.float16, torch.bfloat16}, torch.float32: {torch.float16, torch.bfloat16}}
    return src == dst or src in wider.get(dst, set())


def user_dtypes(model, x, asked: str, *, option: str = "--dtype "):
    """Convert the model and the inputs to the dtype of the run (``asked``, or the model's own with
    ``both``); return them with the dtype and the notes to print about what was converted (``option``: how
    the notes name the choice, ``"--dtype "`` on the command line)."""
    import torch

    own = sorted({t.dtype for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()},
                 key=str)
    notes = []
    if asked != "both":
        dtype = getattr(torch, asked)
        if own and own != [dtype]:
            how = ("float weights convert exactly" if all(converts_exactly(d, dtype) for d in own) else
                   "its weights are rounded, so this checks a nearby network, not the saved one")
            notes.append(f"note: converted the model from {' and '.join(map(dtype_name, own))} to {asked} "
                         f"({option}{asked}; {how})")
            model = model.to(dtype)
    elif len(own) == 1:
        dtype = own[0]
    else:                                   # several dtypes: linearize says so; no parameters: the inputs'
        dtype = own[0] if own else (x.dtype if x.is_floating_point() else torch.get_default_dtype())
    if x.dtype != dtype:
        src = dtype_name(x.dtype)
        if not x.is_floating_point():
            how = f"{src} inputs converted to {dtype_name(dtype)}"
        elif converts_exactly(x.dtype, dtype):
            how = "exact"
        else:
            how = f"{src} inputs cast to a {dtype_name(dtype)} model lose precision"
        why = f"{option}{asked}" if asked != "both" else "the model's dtype"
        notes.append(f"note: cast the inputs from {src} to {dtype_name(dtype)} ({why}; {how})")
        x = x.to(dtype)
    return model, x, dtype, notes
