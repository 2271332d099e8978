"""The pilot run behind each data set's regularizer weight lambda (:mod:`verify.dynamics.settings`):
``python -m verify dynamics --pilot``.
"""

from __future__ import annotations

import torch

from verify.dynamics.lab import eval_set, load_data
from verify.dynamics.train import Objective, build_model, generator, make_optimizer, train_epoch

__all__ = ["pilot"]


def pilot(data: str, *, epochs: int | None = None, seed: int = 100, dtype: str = "float64", device: str = "cpu",
          progress=None) -> dict:
    """The pilot behind each data set's lambda (:mod:`.settings`): a plain ``ce`` run with a seed outside the
    verdict's, then the mean and the median of each regularizer's R(x) over the evaluation points at its last
    epoch, with the clean accuracy of every epoch (so a reader sees that the pilot trained)."""
    from verify.dynamics.settings import settings_for
    from verify.regularizers.definitions import unchecked as R

    s = settings_for(data, epochs=epochs)
    ds = load_data(data)
    dt, dev = getattr(torch, dtype), torch.device(device)
    model = build_model(s.arch, ds.in_shape, ds.classes, seed, dtype=dt, device=dev)
    opt = make_optimizer(model, s.lr)
    x_tr, y_tr = ds.x_train.to(dtype=dt, device=dev), ds.y_train.to(dev)
    x, y = eval_set(ds, s, dt, dev)
    acc = []
    for epoch in range(1, s.epochs + 1):
        train_epoch(model, opt, Objective(), x_tr, y_tr, batch_size=s.batch_size, order=generator("order", seed, epoch),
                    attack_gen=generator("attack", seed, epoch), attack_steps=s.train_steps, box=ds.box,
                    run_id=f"pilot-{data}", epoch=epoch)
        model.eval()
        with torch.no_grad():
            acc.append(float((model(x).argmax(1) == y).double().mean()))
        if progress:
            progress(epoch, acc[-1])
    model.eval()
    per = {"ig": R.input_gradient(model, x, y), "jac": R.jacobian(model, x), "cl": R.cross_lipschitz(model, x),
           "cure": R.curvature(model, x, y, h=s.cure_h), "emr": R.emr(model, x, T=s.T)}
    return {"data": data, "seed": seed, "epochs": s.epochs, "accuracy": acc,
            "median": {k: float(v.median()) for k, v in per.items()}, "mean": {k: float(v.mean()) for k, v in per.items()}}
