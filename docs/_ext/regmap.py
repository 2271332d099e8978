"""The map of the regularizers on an activation region: which claim connects which two of them.

Each derived connection of ``SPEC.md`` is an edge (claim id, node, node, what it says). The nodes are the
five regularizers of :data:`verify.regularizers.names.SUPPORTED` and three quantities the claims route
through: the loss Hessian H = Jᵀ S J (its trace), the Gram matrix G = J Jᵀ and the effective margin γ.
The build checks this table against the claim registry: an edge or a concern naming a claim id that
:data:`theory.claims.CLAIMS` lacks, a node that is neither a regularizer id nor one of the three, or a claim
of the registry that is neither here nor in :data:`NO_REGULARIZER` stops the build. So a renamed or an
added claim must be placed on the map before the pages build.
"""

from __future__ import annotations

from pathlib import Path

#: The quantities besides the regularizers, with their labels.
AUX = {"H": "tr H = tr JᵀSJ", "G": "G = J Jᵀ", "gamma": "margin γ"}

#: (claim id, node, node, what the claim says about the two), from SPEC.md's statements.
EDGES = [
    ("cross-lipschitz-centered-jacobian", "R-CL", "R-JAC", "R-CL = 2K‖CJ‖²_F ≤ 2K·R-JAC (equality iff Σ w_k = 0)"),
    ("input-gradient-bounds", "R-IG", "R-CL", "R-IG ≤ ‖p−e‖²·R-CL/(2K) and R-IG ≤ (1−p_y)·R-CL/2"),
    ("input-gradient-bounds", "R-IG", "R-JAC", "R-IG ≤ ‖p−e‖²·R-JAC"),
    ("hessian-trace-weighted-cross-lipschitz", "H", "R-CL", "tr H = ½ Σ p_l p_m ‖w_l − w_m‖²: R-CL weighted by p"),
    ("hessian-trace-weighted-cross-lipschitz", "H", "R-IG", "tr H = E_{ŷ∼p} R-IG(x, ŷ)"),
    ("curvature-soft-label-gradient", "R-CURE", "R-IG",
     "inside the region, R-CURE is R-IG at x + hz against the soft label p(x)"),
    ("curvature-small-step", "R-CURE", "H", "R-CURE = h²‖Hz‖² + O(h³)"),
    ("gram-unification", "G", "R-JAC", "R-JAC = ⟨G, I⟩"),
    ("gram-unification", "G", "R-CL", "R-CL = ⟨G, 2K·C⟩"),
    ("gram-unification", "G", "R-IG", "R-IG = ⟨G, (p−e)(p−e)ᵀ⟩"),
    ("gram-unification", "G", "H", "tr H = ⟨G, S⟩"),
    ("gram-unification", "G", "R-EMR", "R-EMR = ⟨G, p̃p̃ᵀ⟩"),
    ("gram-unification", "G", "R-CURE", "small-h R-CURE = h² zᵀJᵀSGSJz"),
    ("confident-limit", "R-IG", "R-JAC", "logits × c → ∞: R-IG → 0, R-JAC grows as c²"),
    ("confident-limit", "R-CURE", "R-CL", "logits × c → ∞: R-CURE → 0, R-CL grows as c²"),
    ("emr-limits", "R-EMR", "R-CL", "T → ∞: R-EMR → ‖Jᵀ1‖²/K², the part R-CL removes"),
    ("emr-limits", "R-EMR", "R-JAC", "T → 0: R-EMR → ‖w_ŷ‖², one row of R-JAC"),
    ("margin-lower-bound", "gamma", "R-JAC", "max_j ‖w_y − w_j‖ ≤ √2‖J‖₂: R-JAC bounds the margin's denominator"),
]

#: Claims that concern nodes of the map without joining two of them (claim id -> nodes).
SINGLE = {
    "input-gradient": ("R-IG",),
    "hessian-gauss-newton": ("H",),
    "curvature-region-crossing": ("R-CURE",),
    "effective-margin": ("gamma", "R-EMR"),
    "cross-entropy-scale-variance": ("gamma",),
    "standard-training-small-margin": ("gamma", "R-EMR"),
    "layer-smoothing": ("R-IG", "R-JAC", "R-CL", "R-CURE", "R-EMR"),
}

#: Claims about the setting itself, on no node of the map.
NO_REGULARIZER = ("local-affine", "euler-homogeneous", "confidence-concentration")


def check() -> None:
    """Stop the build when the map and the registry disagree (see the module docstring)."""
    from theory.claims import CLAIMS
    from verify.regularizers.names import SUPPORTED

    nodes = set(SUPPORTED) | set(AUX)
    placed = {e[0] for e in EDGES} | set(SINGLE) | set(NO_REGULARIZER)
    unknown = sorted(placed - set(CLAIMS))
    unplaced = [c for c in CLAIMS if c not in placed]
    bad = sorted(({n for e in EDGES for n in e[1:3]} | {n for v in SINGLE.values() for n in v}) - nodes)
    on_map = [(e[0], n) for e in EDGES for n in e[1:3]] + [(c, n) for c, v in SINGLE.items() for n in v]
    unlisted = sorted({(c, n) for c, n in on_map if c in CLAIMS and n in SUPPORTED
                       and n not in CLAIMS[c].regularizers})
    if unknown or unplaced or bad or unlisted:
        raise RuntimeError(f"the regularizer map (docs/_ext/regmap.py) is out of date: claim ids not in the registry "
                           f"{unknown}; claims of the registry not placed {unplaced}; unknown nodes {bad}; claims "
                           f"put on a regularizer their Claim.regularizers does not list {unlisted}")


def concerns() -> dict[str, tuple[str, ...]]:
    """claim id -> the regularizer ids it concerns, in the specification's order: the registry's own
    ``Claim.regularizers`` (what ``python -m theory explain --regularizer`` lists). :func:`check` stops the
    build when the map puts a claim on a regularizer that the registry does not list for it."""
    from theory.claims import CLAIMS
    from verify.regularizers.names import SUPPORTED

    check()
    return {cid: tuple(r for r in SUPPORTED if r in c.regularizers) for cid, c in CLAIMS.items()}


def _positions():
    return {"R-IG": (0.0, 1.05), "R-JAC": (-1.15, 0.35), "R-CL": (-0.72, -0.95), "R-CURE": (0.72, -0.95),
            "R-EMR": (1.15, 0.35), "G": (0.1, 0.12), "H": (-0.32, -0.38), "gamma": (-1.75, -0.55)}


def draw_svg(path: Path, link) -> None:
    """The map as an SVG: one coloured edge per (claim, pair of nodes), numbered by claim; every edge, number
    and legend entry links to its claim's page (``link(claim_id)``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    from verify.regularizers.names import SUPPORTED

    pos = _positions()
    colours = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("Dark2").colors)
    claim_ids = list(dict.fromkeys(e[0] for e in EDGES))
    fig, ax = plt.subplots(figsize=(10, 6.2))
    seen: dict[frozenset, int] = {}
    for cid, a, b, _ in EDGES:
        k = seen.get(frozenset((a, b)), 0)
        seen[frozenset((a, b))] = k + 1
        rad = [0.0, 0.22, -0.22][k % 3]
        number = claim_ids.index(cid) + 1
        colour = colours[(number - 1) % len(colours)]
        arrow = FancyArrowPatch(pos[a], pos[b], connectionstyle=f"arc3,rad={rad}", arrowstyle="-", lw=2.2,
                                color=colour, shrinkA=20, shrinkB=20, zorder=1)
        arrow.set_url(link(cid))
        ax.add_patch(arrow)
        (xa, ya), (xb, yb) = pos[a], pos[b]
        t = 0.5 if k == 0 else 0.4                  # the point of the curve where its number sits
        cx, cy = (xa + xb) / 2 + rad * (yb - ya), (ya + yb) / 2 - rad * (xb - xa)
        mx = (1 - t) ** 2 * xa + 2 * t * (1 - t) * cx + t ** 2 * xb
        my = (1 - t) ** 2 * ya + 2 * t * (1 - t) * cy + t ** 2 * yb
        label = ax.text(mx, my, str(number), fontsize=8, ha="center", va="center", zorder=3, fontweight="bold",
                        bbox=dict(boxstyle="circle,pad=0.2", fc="white", ec=colour, lw=1.2))
        label.set_url(link(cid))
    for node, (x, y) in pos.items():
        reg = node in SUPPORTED
        ax.text(x, y, node if reg else AUX[node], ha="center", va="center", fontsize=12 if reg else 10, zorder=4,
                fontweight="bold" if reg else "normal",
                bbox=dict(boxstyle="round,pad=0.4", fc="#dde8f5" if reg else "#f3f3f3", ec="#334"))
    for i, cid in enumerate(claim_ids):
        entry = ax.text(1.75, 1.05 - 0.19 * i, f"{i + 1}  {cid}", fontsize=9, va="center", color="black",
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=colours[i % len(colours)], lw=1.2))
        entry.set_url(link(cid))
    ax.set_xlim(-2.05, 3.55)
    ax.set_ylim(-1.2, 1.25)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def write(out: Path) -> None:
    """``out/regmap.svg``, ``out/regmap-edges.md`` (the edges as a table) and ``out/regmap-claims.md`` (the
    claims concerning each regularizer)."""
    from theory.claims import CLAIMS
    from verify.regularizers.names import SUPPORTED

    by_claim = concerns()
    out.mkdir(parents=True, exist_ok=True)
    # the SVG is included by a raw-HTML block on concepts.md, two levels below the site's root
    draw_svg(out / "regmap.svg", lambda cid: f"generated/claims/{cid}.html")
    rows = "".join(f"| {{doc}}`{cid} </generated/claims/{cid}>` | {a if a in SUPPORTED else AUX[a]} | "
                   f"{b if b in SUPPORTED else AUX[b]} | {label} |\n" for cid, a, b, label in EDGES)
    (out / "regmap-edges.md").write_text("| claim | from | to | on the region |\n|---|---|---|---|\n" + rows,
                                         encoding="utf-8")
    rows = "".join(f"| {r} | " + ", ".join(f"{{doc}}`{c} </generated/claims/{c}>`" for c in CLAIMS
                                          if r in by_claim[c]) + " |\n" for r in SUPPORTED)
    (out / "regmap-claims.md").write_text("| regularizer | claims that concern it |\n|---|---|\n" + rows,
                                          encoding="utf-8")
    from theory.claims import REGULARIZERS
    from verify.regularizers.names import ALIASES, lab_key

    cell = lambda text: text.replace("|", "\\|")          # noqa: E731  (a norm's bars are not cell bounds)
    rows = "".join(f"| {r} | {cell(REGULARIZERS[r])} | `{lab_key(r)}`, " + ", ".join(f"`{a}`" for a in ALIASES[r][1:])
                   + " |\n" for r in SUPPORTED)
    (out / "regularizers.md").write_text("| id | definition (`theory.claims.REGULARIZERS`) | also named |\n"
                                         "|---|---|---|\n" + rows, encoding="utf-8")
