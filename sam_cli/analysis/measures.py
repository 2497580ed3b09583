"""The measures of the SAM paper's analysis (§4.1-4.2, Table 3, Figures 2-3) as pure functions on tensors.

No I/O, no model: `probe.py` gets the tensors, `run.py` averages these over clips.

- τ-effective rank (paper §4.1, eq. 4, after Meng et al. 2024): the smallest k whose k largest singular
  values hold a share τ of the squared singular values, rank_τ(H) = argmin_k (Σ_{i≤k} σ_i² / Σ_i σ_i² ≥ τ),
  τ = 0.95, of the token matrix H (tokens × width) as it is: no centring (the paper names none).
- token-to-token cosine similarity (Table 3): the mean cosine over all pairs of distinct tokens.
- state update distance (§4.2, Figure 3): how many recurrent state updates separate two audio tokens that are
  neighbours on the encoder's time × band grid; the paper illustrates it per connector. Measured here too:
  how much a Mamba-2 layer's state moves from one audio token to the next, ||h_t - h_{t-1}|| / ||h_{t-1}||,
  and how much of a token's write survives those updates, Π exp(dt_s A) over the steps up to its neighbour.
"""

from __future__ import annotations

import torch
from torch import Tensor

TAU = 0.95


def effective_rank(h: Tensor, tau: float = TAU) -> int:
    """rank_τ of one token matrix h (tokens, width) (paper eq. 4). A zero matrix has rank 0."""
    if h.dim() != 2:
        raise ValueError(f"expected a (tokens, width) matrix, got shape {list(h.shape)}")
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], not {tau}")
    s2 = torch.linalg.svdvals(h.detach().to(torch.float64)) ** 2  # descending
    total = s2.sum()
    if total <= 0:
        return 0
    share = torch.cumsum(s2, 0) / total
    # The smallest k with share_k >= tau; a rounding margin so that a spectrum whose share is exactly tau at k
    # (e.g. 19/20 of the energy in k equal values) counts k, not k + 1.
    return int(torch.searchsorted(share, torch.tensor(tau - 1e-12, dtype=share.dtype)).item()) + 1


def cosine_similarity(h: Tensor) -> float:
    """Mean cosine similarity over the pairs of distinct tokens (rows) of h (tokens, width). A zero row
    counts as cosine 0 with everything."""
    if h.dim() != 2 or h.shape[0] < 2:
        raise ValueError(f"expected a (tokens >= 2, width) matrix, got shape {list(h.shape)}")
    x = h.detach().to(torch.float64)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-300)
    n = x.shape[0]
    total = (x.sum(0) ** 2).sum() - (x * x).sum()  # Σ_{i≠j} x_i·x_j, without the n × n matrix
    return float(total / (n * (n - 1)))


def state_change(prev: Tensor, new: Tensor) -> Tensor:
    """Relative state update from one token to the next: prev and new (batch, ...) are a layer's states
    h_{t-1} and h_t -> (batch,) ||h_t - h_{t-1}||_F / ||h_{t-1}||_F (nan where h_{t-1} = 0)."""
    p, n = prev.detach().to(torch.float64).flatten(1), new.detach().to(torch.float64).flatten(1)
    diff, norm = (n - p).norm(dim=1), p.norm(dim=1)
    return torch.where(norm > 0, diff / norm.clamp_min(1e-300), torch.full_like(norm, float("nan")))


def grid_positions(kind: str, time_steps: int, bands: int) -> Tensor:
    """Where each encoder grid cell (time t, band f) enters the LM: position[t, f] in E_a (docs/design.md §5).
    concat: one token per time step (all bands in it); time_major: t(F+1)+f (a separator after each time
    step); frequency_major: f(T+1)+t (a separator after each band)."""
    t = torch.arange(time_steps).view(-1, 1).expand(time_steps, bands)
    f = torch.arange(bands).view(1, -1).expand(time_steps, bands)
    if kind == "concat":
        return t.clone()
    if kind == "time_major":
        return t * (bands + 1) + f
    if kind == "frequency_major":
        return f * (time_steps + 1) + t
    raise ValueError(f"unknown connector {kind!r}")


def update_steps(kind: str, time_steps: int, bands: int) -> dict[str, int]:
    """The paper's Figure 3: recurrent state updates between neighbouring grid cells, along time and along
    frequency (0: the two cells enter the LM in the same token)."""
    pos = grid_positions(kind, time_steps, bands)
    return {"time": int(pos[1, 0] - pos[0, 0]) if time_steps > 1 else 0,
            "frequency": int(pos[0, 1] - pos[0, 0]) if bands > 1 else 0}


def retention(log_decay: Tensor, kind: str, time_steps: int, bands: int) -> dict[str, float]:
    """How much of what a grid cell writes into the state is left when its neighbour is written.

    log_decay (tokens, heads): dt_t * A of one layer, one clip (the state is multiplied by exp of it at token
    t). For neighbours at positions p < q, the share left is exp(Σ_{s=p+1..q} dt_s A); averaged over heads
    and over every pair of neighbours along time and along frequency. 1.0 where the neighbours share a token.
    """
    pos = grid_positions(kind, time_steps, bands)
    cs = torch.cumsum(log_decay.detach().to(torch.float64), 0)  # cs[q] - cs[p] = Σ_{s=p+1..q}
    out = {}
    for name, (a, b) in {"time": (pos[:-1, :], pos[1:, :]), "frequency": (pos[:, :-1], pos[:, 1:])}.items():
        a, b = a.reshape(-1), b.reshape(-1)
        if a.numel() == 0:
            out[name] = float("nan")
        elif bool((a == b).all()):
            out[name] = 1.0
        else:
            out[name] = float(torch.exp(cs[b] - cs[a]).mean())
    return out
