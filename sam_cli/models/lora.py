"""LoRA on the Mamba-2 mixers' in_proj and out_proj (paper §3.1, docs/design.md §7).

`LoRALinear` is an nn.Linear, so the base weight keeps its key (`...in_proj.weight`) and published LM
checkpoints load unchanged; the adapter adds `...in_proj.lora_A` / `lora_B`. B starts at zero, so a fresh
adapter leaves the model's outputs exactly as they were. alpha defaults to 2r, as in the paper.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_TARGETS = ("in_proj", "out_proj")


class LoRALinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float | None = None,
                 bias: bool = False, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if rank <= 0:
            raise ValueError("LoRA rank must be positive")
        self.rank = rank
        self.alpha = float(alpha if alpha is not None else 2 * rank)
        self.scaling = self.alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features, device=device, dtype=dtype))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank, device=device, dtype=dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.merged = False

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int, alpha: float | None = None) -> LoRALinear:
        new = cls(linear.in_features, linear.out_features, rank, alpha, bias=linear.bias is not None,
                  device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(linear.weight)
            if linear.bias is not None:
                new.bias.copy_(linear.bias)
        new.weight.requires_grad_(linear.weight.requires_grad)
        return new

    def delta(self) -> torch.Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        return y + F.linear(F.linear(x, self.lora_A.to(x.dtype)), self.lora_B.to(x.dtype)) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.weight += self.delta().to(self.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.weight -= self.delta().to(self.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha:g}, merged={self.merged}"


def apply_lora(lm: nn.Module, rank: int, alpha: float | None = None,
               targets: tuple[str, ...] = DEFAULT_TARGETS) -> list[LoRALinear]:
    """Replace every `targets` Linear inside `lm`'s mixers by a LoRALinear (in place); returns them."""
    added = []
    for module in list(lm.modules()):
        for name in targets:
            child = getattr(module, name, None)
            if isinstance(child, nn.Linear) and not isinstance(child, LoRALinear):
                new = LoRALinear.from_linear(child, rank, alpha)
                setattr(module, name, new)
                added.append(new)
    if not added:
        raise ValueError(f"no Linear layers named {targets} to adapt")
    return added


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def effective_weight(linear: nn.Linear) -> torch.Tensor:
    """The weight a Linear really applies: W, or W + scale * B @ A (summed in fp32) for an unmerged adapter.
    For fast paths that keep their own copy of the matrix (accel/)."""
    if isinstance(linear, LoRALinear) and not linear.merged:
        return (linear.weight.detach().float() + linear.delta().detach().float()).to(linear.weight.dtype)
    return linear.weight.detach()


def merge_lora(model: nn.Module) -> None:
    for m in lora_layers(model):
        m.merge()


def unmerge_lora(model: nn.Module) -> None:
    for m in lora_layers(model):
        m.unmerge()


def remove_lora(model: nn.Module) -> None:
    """Merge every adapter and put plain nn.Linear layers back (for export and for the fast path)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                child.merge()
                plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None,
                                  device=child.weight.device, dtype=child.weight.dtype)
                with torch.no_grad():
                    plain.weight.copy_(child.weight)
                    if child.bias is not None:
                        plain.bias.copy_(child.bias)
                setattr(module, name, plain)
