"""The three starting points of a run, and which parameters a stage trains.

1. `init`: a SAM checkpoint (folder, Hub id or bundled name), to continue training.
2. `lm` + `encoder` + `tokenizer`: the published parts (a state-spaces/mamba2-* LM, an EAT checkpoint, a
   tokenizer.json), each a local path or a Hub id fetched into the Hugging Face cache by the same code as
   `sam pull`; the connector is fresh.
3. `scratch`: every part random, sized by `[model]`; the tokenizer is trained on the data's text.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
from torch import nn

from sam_cli.models.audio_mamba import ENCODER_TYPE as AUDIO_MAMBA, AudioMambaConfig
from sam_cli.models.connector import Connector, ConnectorConfig
from sam_cli.models.encoder import EATConfig
from sam_cli.errors import CheckpointError
from sam_cli.models.lora import apply_lora, lora_layers, remove_lora
from sam_cli.models.mamba2 import Mamba2Config
from sam_cli.models.sam import SAM, SAMConfig
from sam_cli.models.tokenizer import Tokenizer
from sam_cli.train.config import ConfigError, ScratchModel, StagePlan, TrainConfig

DEFAULT_LORA_RANK = 8  # the paper's r = 8 models; r = 256 for its best ones

# What to fetch from the Hub for each part (a state-spaces LM ships pytorch_model.bin, EAT model.safetensors).
COMPONENT_FILES = {
    "lm": ["config.json", "model.safetensors", "pytorch_model.bin"],
    "encoder": ["config.json", "model.safetensors", "pytorch_model.bin"],
    "tokenizer": ["tokenizer.json"],
}
COMPONENT_NAMES = {"lm": "Mamba-2 language model", "encoder": "EAT encoder", "tokenizer": "tokenizer"}


# ---------------------------------------------------------------------------------------------------------
# Finding the parts


def resolve_component(spec: str, kind: str) -> Path:
    """A local path for `spec` (a path, or a Hub id[@revision] downloaded into the HF cache if needed)."""
    from sam_cli.store.hub_download import download_snapshot
    from sam_cli.store.hub_settings import hub_endpoint, offline_mode
    from sam_cli.store.local_models import cached_snapshot
    from sam_cli.store.model_spec import DEFAULT_REVISION, looks_like_path, parse_model_spec

    path = Path(spec).expanduser()
    if path.exists():
        return path
    if "/" not in spec or looks_like_path(spec):
        raise CheckpointError(f"{spec}: no such file or folder (--{kind})")
    repo_id, revision = parse_model_spec(spec)
    snapshot = cached_snapshot(repo_id, revision)
    if snapshot is not None and _complete(snapshot, kind):
        return snapshot
    if offline_mode():
        raise CheckpointError(f"{spec} is not in the cache and HF_HUB_OFFLINE=1")
    print(f"sam: downloading {spec} from {hub_endpoint()}", file=sys.stderr)
    folder = Path(download_snapshot(repo_id, revision or DEFAULT_REVISION, spec, COMPONENT_FILES[kind], ["*/*"],
                                    progress=True))
    if not _complete(folder, kind):
        wanted = "tokenizer.json" if kind == "tokenizer" else "config.json and model weights"
        raise CheckpointError(f"{spec}: not a {COMPONENT_NAMES[kind]} repo (it has no {wanted})")
    return folder


def _complete(folder: Path, kind: str) -> bool:
    if kind == "tokenizer":
        return (folder / "tokenizer.json").is_file()
    return (folder / "config.json").is_file() and any((folder / n).is_file() for n in COMPONENT_FILES[kind][1:])


def load_tokenizer(spec: str) -> Tokenizer:
    path = resolve_component(spec, "tokenizer")
    if path.is_dir():
        path = path / "tokenizer.json"
    return Tokenizer.from_file(path)


# ---------------------------------------------------------------------------------------------------------
# Starting points


def from_checkpoint(cfg: TrainConfig) -> SAM:
    from sam_cli.store.checkpoint import load_checkpoint
    from sam_cli.store.hub import resolve_model

    assert cfg.init is not None
    model = load_checkpoint(resolve_model(cfg.init))
    if cfg.connector is not None and cfg.connector != model.cfg.connector.kind:
        raise ConfigError(f"{cfg.init} has a {model.cfg.connector.kind!r} connector; another connector needs a fresh "
                          "start from the parts (--lm, --encoder, --tokenizer)")
    rank = model.cfg.lora_rank if cfg.lora_rank is None else cfg.lora_rank
    if cfg.lora_rank is None and rank == 0:
        rank = DEFAULT_LORA_RANK  # a merged export: new adapters on top of the merged weights
    if rank != model.cfg.lora_rank or (cfg.lora_alpha is not None and cfg.lora_alpha != model.cfg.lora_alpha):
        remove_lora(model)  # the old adapters stay, merged into the base weights
        model.cfg = dataclasses.replace(model.cfg, lora_rank=0, lora_alpha=None)
        _add_lora(model, rank, cfg.lora_alpha)
    return model


def from_parts(cfg: TrainConfig, tokenizer: Tokenizer) -> SAM:
    from sam_cli.store.eat_files import load_audio_encoder
    from sam_cli.store.mamba2_files import load_language_model

    assert cfg.lm and cfg.encoder
    lm = load_language_model(resolve_component(cfg.lm, "lm"), dtype=torch.float32)
    encoder = load_audio_encoder(resolve_component(cfg.encoder, "encoder"), dtype=torch.float32)
    if tokenizer.vocab_size > lm.cfg.padded_vocab_size:
        raise CheckpointError(f"the tokenizer has {tokenizer.vocab_size} tokens but {cfg.lm} only "
                              f"{lm.cfg.padded_vocab_size} embeddings: they do not belong together")
    sam_cfg = SAMConfig(encoder=encoder.config, lm=lm.cfg, connector=ConnectorConfig(kind=cfg.connector or "concat"),
                        lora_rank=0, target_length=encoder.config.target_length)
    with torch.device("meta"):  # the encoder and LM come loaded; only the connector is new
        model = SAM(sam_cfg)
    model.encoder, model.lm = encoder, lm
    model.connector = Connector(sam_cfg.connector)
    _add_lora(model, DEFAULT_LORA_RANK if cfg.lora_rank is None else cfg.lora_rank, cfg.lora_alpha)
    init_separator(model, tokenizer)
    return model


def from_scratch(cfg: TrainConfig, tokenizer: Tokenizer) -> SAM:
    m = cfg.model
    target_length = cfg.target_length or 1024
    try:
        sam_cfg = SAMConfig(
            encoder=scratch_encoder(m, target_length),
            lm=Mamba2Config(d_model=m.d_model, n_layer=m.n_layer, vocab_size=tokenizer.vocab_size, d_state=m.d_state,
                            headdim=m.headdim, chunk_size=m.chunk_size),
            connector=ConnectorConfig(kind=cfg.connector or "concat", hidden_dim=m.connector_hidden),
            lora_rank=cfg.lora_rank or 0, lora_alpha=cfg.lora_alpha, target_length=target_length,
        )
    except ValueError as e:
        raise ConfigError(f"model: {e}") from None
    torch.manual_seed(cfg.seed)  # every process builds the same weights
    model = SAM(sam_cfg)
    init_separator(model, tokenizer)
    return model


def scratch_encoder(m: ScratchModel, target_length: int) -> EATConfig | AudioMambaConfig:
    if m.encoder_type == "eat":
        return EATConfig(embed_dim=m.encoder_dim, depth=m.encoder_depth, num_heads=m.encoder_heads, num_classes=0,
                         model_variant="pretrain", max_length=target_length // 16, target_length=target_length)
    if m.encoder_type != AUDIO_MAMBA:
        raise ValueError(f"encoder_type must be 'eat' or {AUDIO_MAMBA!r}, not {m.encoder_type!r}")
    depths = m.encoder_depths or [2, 2, 6, 2]
    dims = m.encoder_dims or [m.encoder_dim >> (len(depths) - 1 - i) for i in range(len(depths))]
    headdim = next(h for h in (64, 32, 16, 8, 4, 2, 1) if all(2 * d % h == 0 for d in dims))  # widest that fits
    return AudioMambaConfig(dims=dims, depths=depths, headdim=headdim, target_length=target_length)


def finish(model: SAM, cfg: TrainConfig, tokenizer: Tokenizer) -> SAM:
    """Settings every starting point shares: tokenizer, loss, prompt, clip length, gradient checkpointing."""
    model.tokenizer = tokenizer
    model.cfg.loss_on = cfg.loss_on
    if cfg.target_length is not None and isinstance(model.cfg.encoder, AudioMambaConfig):
        if cfg.target_length % model.cfg.encoder.time_stride:  # no position table: any multiple of its stride
            raise ConfigError(f"target_length {cfg.target_length} must be a multiple of the Audio Mamba encoder's "
                              f"stride {model.cfg.encoder.time_stride}")
        model.cfg.target_length = cfg.target_length
    elif cfg.target_length is not None:
        rows = model.encoder.fixed_positional_encoder.positions.shape[1]
        if cfg.target_length // model.cfg.encoder.patch_size * model.cfg.encoder.num_bands > rows:
            raise ConfigError(f"target_length {cfg.target_length} is longer than the encoder's position table allows "
                              f"({rows // model.cfg.encoder.num_bands * model.cfg.encoder.patch_size} frames)")
        model.cfg.target_length = cfg.target_length
    if tokenizer.vocab_size > model.cfg.lm.padded_vocab_size:
        raise CheckpointError(f"the tokenizer has {tokenizer.vocab_size} tokens but the LM only "
                              f"{model.cfg.lm.padded_vocab_size} embeddings")
    if cfg.prune_tokens is not None or cfg.prune_by is not None:  # saved in the model's config: it runs as trained
        if not isinstance(model.cfg.encoder, EATConfig):
            raise ConfigError("prune_tokens works on the EAT encoder only")
        changes = {k: v for k, v in (("rate", cfg.prune_tokens), ("criterion", cfg.prune_by)) if v is not None}
        model.cfg.prune = dataclasses.replace(model.cfg.prune, **changes)
        model.cfg.prune.blocks(model.cfg.encoder.depth)
    model.lm.gradient_checkpointing = cfg.gradient_checkpointing
    return model


def _add_lora(model: SAM, rank: int, alpha: float | None) -> None:
    if rank > 0:
        apply_lora(model.lm, rank, alpha)
    model.cfg = dataclasses.replace(model.cfg, lora_rank=rank, lora_alpha=alpha if rank else None)


@torch.no_grad()
def init_separator(model: SAM, tokenizer: Tokenizer) -> None:
    """The paper's separator: the text embedding of "&&" (mean over its tokens), for the connectors that use one."""
    conn = model.cfg.connector
    if conn.kind == "concat" or conn.separator_init != "text":
        return
    ids = tokenizer.encode(conn.separator_text)
    if ids:
        emb = model.lm.embed(torch.tensor(ids, device=model.device)).mean(dim=0)
        model.connector.separator.copy_(emb.to(model.connector.separator.dtype))


# ---------------------------------------------------------------------------------------------------------
# What trains


def set_trainable(model: SAM, plan: StagePlan, train_head: bool = False) -> list[tuple[str, nn.Parameter]]:
    """Freeze everything, then unfreeze what the stage trains; returns the trainable (name, parameter) pairs.

    The encoder's head (fc_norm, head) is not on the path to the LM, so it trains only with the tagging loss
    (`train_head`, in a stage that trains the encoder): DDP refuses parameters that take no part in the loss.
    """
    model.requires_grad_(False)
    if plan.train_connector:
        model.connector.requires_grad_(True)
    if plan.train_encoder:
        for name, p in model.encoder.named_parameters():
            p.requires_grad_(train_head or not name.startswith(("fc_norm.", "head.")))
    if plan.train_lm == "full":
        model.lm.requires_grad_(True)
    elif plan.train_lm == "lora":
        layers = lora_layers(model.lm)
        if not layers:
            raise ConfigError(f"stage {plan.stage} trains LoRA adapters but the model has none (lora_rank 0)")
        for layer in layers:
            layer.lora_A.requires_grad_(True)
            layer.lora_B.requires_grad_(True)
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def count(params: list[tuple[str, nn.Parameter]]) -> int:
    return sum(p.numel() for _, p in params)
