"""The losses of the round-2 defenses (SPEC.md, "Round 2"), written from their formulas: the KL divergence of
TRADES (Zhang et al. 2019) and MART (Wang et al. 2020), and MART's boosted cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["kl_divergence", "boosted_cross_entropy"]


def kl_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_k p_k (log p_k - log q_k) per example (B,), p = softmax(logits_p), q = softmax(logits_q),
    from log-softmaxes (no epsilon); differentiable in both."""
    return F.kl_div(torch.log_softmax(logits_q, 1), torch.log_softmax(logits_p, 1), reduction="none",
                    log_target=True).sum(1)


def boosted_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MART's boosted cross-entropy per example (B,): CE(f, y) - log(1 - max_{k != y} p_k), with
    log(1 - p_j) = logsumexp_{k != j} f_k - logsumexp_k f_k (j the strongest other class; exact, no epsilon)."""
    ce = F.cross_entropy(logits, y, reduction="none")
    other = logits.scatter(1, y[:, None], float("-inf"))
    j = other.argmax(1)
    rest = logits.scatter(1, j[:, None], float("-inf"))
    log_1mp = torch.logsumexp(rest, 1) - torch.logsumexp(logits, 1)
    return ce - log_1mp
