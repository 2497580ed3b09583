"""PNG figures of `sam analyze`'s results (matplotlib, the optional `analyze` extra): the paper's Figure 2
(τ-effective rank, here per layer and across checkpoints), Table 3's cosine similarity per layer, and
Figure 3 (state updates between neighbouring audio tokens, here measured per Mamba-2 layer)."""

from __future__ import annotations

from pathlib import Path

from sam_cli.errors import SamError

FILES = ("effective_rank.png", "cosine_similarity.png", "state_update.png")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SamError("figures need matplotlib: pip install 'sam-cli[analyze]' (the JSON is written without "
                       "it; --no-figures skips them)") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _label(result: dict) -> str:
    """A folder by its name (a run's export, RUN/model, by "RUN/model"); Hub ids and bundled names as given."""
    name = result["model"].rstrip("/")
    if "/" not in name or not Path(name).exists():
        return name
    parts = Path(name).parts
    return "/".join(parts[-2:]) if parts[-1] == "model" and len(parts) > 1 else parts[-1]


def write_figures(results: list[dict], folder: Path, tau: float) -> list[Path]:
    """The three figures into folder; returns their paths."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    for r in results:
        names = [row["name"] for row in r["layers"]]
        ax.plot(names, [row["effective_rank"] for row in r["layers"]], marker="o", label=_label(r))
    ax.set_ylabel(f"τ-effective rank (τ = {tau:g})")
    ax.set_title("Audio tokens per layer: encoder blocks, connector (enters the LM), Mamba-2 layers")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(fontsize="small")
    labels = [_label(r) for r in results]
    ax2.errorbar(range(len(results)), [r["table3"]["effective_rank"] for r in results],
                 yerr=[next(x["effective_rank_std"] for x in r["layers"] if x["name"] == "connector")
                       for r in results], marker="o", capsize=3)
    ax2.set_xticks(range(len(results)), labels, rotation=60, ha="right", fontsize="small")
    ax2.set_title("Tokens entering the LM, per checkpoint")
    fig.tight_layout()
    paths.append(_save(fig, folder / FILES[0], plt))

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for r in results:
        ax.plot([row["name"] for row in r["layers"]], [row["cosine_similarity"] for row in r["layers"]],
                marker="o", label=_label(r))
    ax.set_ylabel("mean token-to-token cosine similarity")
    ax.set_title("Audio tokens per layer")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(fontsize="small")
    fig.tight_layout()
    paths.append(_save(fig, folder / FILES[1], plt))

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in results:
        layers = [s["layer"] for s in r["state"]]
        line, = ax.plot(layers, [s["state_change"] for s in r["state"]], marker="o", label=_label(r))
        steps = r["update_steps"]
        ax2.plot(layers, [s["retention_time"] for s in r["state"]], marker="o", color=line.get_color(),
                 label=f"{_label(r)}: time ({steps['time']} updates)")
        ax2.plot(layers, [s["retention_frequency"] for s in r["state"]], marker="s", linestyle="--",
                 color=line.get_color(), label=f"{_label(r)}: frequency ({steps['frequency']} updates)")
    ax.set_xlabel("Mamba-2 layer")
    ax.set_ylabel("||h_t - h_t-1|| / ||h_t-1||")
    ax.set_title("State update between adjacent audio tokens")
    ax.legend(fontsize="small")
    ax2.set_xlabel("Mamba-2 layer")
    ax2.set_ylabel("share of a token's write left at its neighbour")
    ax2.set_title("Across the updates between neighbouring grid cells")
    ax2.set_ylim(0, 1.05)
    ax2.legend(fontsize="x-small")
    fig.tight_layout()
    paths.append(_save(fig, folder / FILES[2], plt))
    return paths


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
