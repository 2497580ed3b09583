"""Model resolution and the Hub cache (sam_cli/store/: hub, hub_download, local_models), against a fake Hub
on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hubserver import FakeHub, fake_hub, sam_checkpoint_files  # noqa: F401  (fake_hub is a fixture)

from sam_cli.store import hub, hub_download, hub_settings, local_models, model_spec
from sam_cli.errors import CheckpointError, UsageError

REPO = "acme/sam-small"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty bundled-models folder, so tests do not depend on what the package ships."""
    folder = tmp_path / "bundled"
    folder.mkdir()
    monkeypatch.setattr(local_models, "BUNDLED_DIR", folder)
    monkeypatch.delenv("SAM_MODEL", raising=False)
    return folder


@pytest.fixture
def two_versions(fake_hub: FakeHub) -> tuple[str, str]:
    """REPO with an old commit tagged v1 and a newer one at the head of main."""
    old = fake_hub.add_repo(REPO, sam_checkpoint_files(n_floats=128), tags=("v1",))
    new = fake_hub.add_repo(REPO, sam_checkpoint_files(n_floats=256, extra={"NOTICE": "new\n"}))
    return old, new


def hub_paths(requests: list) -> list[str]:
    # The library also asks the Hub for an agent registry once per process; only model traffic matters here.
    return [r.path for r in requests if "agent-harnesses" not in r.path]


def assert_same_files(folder: Path, served: dict[str, bytes]) -> None:
    on_disk = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert on_disk == served


def write_folder(folder: Path, config: dict | None) -> Path:
    folder.mkdir(parents=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


# ---------------------------------------------------------------------------------------------------------------
# pull


def test_pull_by_commit_tag_and_branch(fake_hub: FakeHub, two_versions: tuple[str, str]) -> None:
    old, new = two_versions
    cache = Path(os.environ["HF_HOME"]) / "hub" / "models--acme--sam-small"

    by_commit = hub_download.pull(REPO, old, progress=False)
    assert (by_commit.commit, by_commit.revision) == (old, old)
    assert by_commit.path == cache / "snapshots" / old
    assert_same_files(by_commit.path, fake_hub.files(REPO, old))
    assert by_commit.size_bytes == sum(len(b) for b in fake_hub.files(REPO, old).values())
    # A full commit hash needs no model-info call to resolve it.
    assert not [p for p in hub_paths(fake_hub.requests) if "/revision/" in p]

    by_tag = hub_download.pull(f"{REPO}@v1", progress=False)
    assert (by_tag.commit, by_tag.path, by_tag.revision) == (old, by_commit.path, "v1")
    assert (cache / "refs" / "v1").read_text() == old

    by_branch = hub_download.pull(REPO, progress=False)
    assert (by_branch.commit, by_branch.revision) == (new, "main")
    assert by_branch.path == cache / "snapshots" / new
    assert_same_files(by_branch.path, fake_hub.files(REPO, "main"))
    assert (cache / "refs" / "main").read_text() == new


def test_pull_again_is_a_noop_for_a_commit(fake_hub: FakeHub, two_versions: tuple[str, str]) -> None:
    old, _ = two_versions
    hub_download.pull(REPO, old, progress=False)
    fake_hub.clear_log()
    assert hub_download.pull(REPO, old, progress=False).commit == old
    assert hub_paths(fake_hub.requests) == []


def test_pull_follows_tree_pagination(fake_hub: FakeHub) -> None:
    fake_hub.page_size = 2  # 4 files -> 2 pages
    fake_hub.add_repo(REPO, sam_checkpoint_files())
    pulled = hub_download.pull(REPO, progress=False)
    assert_same_files(pulled.path, fake_hub.files(REPO))
    assert any("cursor=2" in p for p in hub_paths(fake_hub.requests))


def test_pull_downloads_only_checkpoint_and_small_files(fake_hub: FakeHub) -> None:
    files = sam_checkpoint_files(
        extra={"optimizer.pt": b"x" * 1000, "runs/notes.txt": "log", "labels.csv": "id,name\n"}
    )
    fake_hub.add_repo(REPO, files)
    pulled = hub_download.pull(REPO, progress=False)
    names = {p.name for p in pulled.path.iterdir()}
    assert names == {"config.json", "model.safetensors", "tokenizer.json", "README.md", "labels.csv"}


def test_pull_without_progress_is_silent(fake_hub: FakeHub, capfd: pytest.CaptureFixture[str]) -> None:
    fake_hub.add_repo(REPO, sam_checkpoint_files())
    hub_download.pull(REPO, progress=False)
    assert capfd.readouterr().err == ""


def test_pull_in_a_subprocess(fake_hub: FakeHub, tmp_path: Path) -> None:
    # A fresh interpreter reads HF_ENDPOINT / HF_HOME at import, as a user's `sam pull` would.
    commit = fake_hub.add_repo(REPO, sam_checkpoint_files())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=fake_hub.endpoint, HF_HOME=str(tmp_path / "sub_home"), PYTHONPATH=str(REPO_ROOT))
    code = (f"from sam_cli.store.hub_download import pull; p = pull({REPO!r}, progress=False); "
            "print(p.commit); print(p.path)")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    printed_commit, printed_path = out.stdout.split()
    assert printed_commit == commit
    assert Path(printed_path) == tmp_path / "sub_home" / "hub" / "models--acme--sam-small" / "snapshots" / commit
    assert_same_files(Path(printed_path), fake_hub.files(REPO))

    # The same interpreter setup, offline, for a repo it never saw: fails at once, naming the command.
    env["HF_HUB_OFFLINE"] = "1"
    fake_hub.clear_log()
    code = "from sam_cli.store.hub import resolve_model; resolve_model('acme/other')"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "run: sam pull acme/other" in out.stderr
    assert fake_hub.requests == []


# ---------------------------------------------------------------------------------------------------------------
# errors from the Hub


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"model_type": "eat", "embed_dim": 768}, "EAT audio encoder"),
        ({"d_model": 768, "n_layer": 24, "ssm_cfg": {"layer": "Mamba2"}}, "Mamba-2 language model"),
    ],
)
def test_pull_refuses_a_component_before_its_weights(fake_hub: FakeHub, config: dict, expected: str) -> None:
    fake_hub.add_repo("someone/component", {"config.json": json.dumps(config), "model.safetensors": b"w" * 4096})
    with pytest.raises(CheckpointError) as e:
        hub_download.pull("someone/component", progress=False)
    message = str(e.value)
    assert expected in message and "sam train" in message and "not a SAM checkpoint" in message
    assert not [r for r in fake_hub.requests if r.server == "cdn"]  # the weights were never fetched
    assert local_models.list_models() == []


def test_pull_refuses_other_models(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("someone/bert", sam_checkpoint_files(model_type="bert"))
    with pytest.raises(CheckpointError, match=r"someone/bert: not a SAM checkpoint \(config.json has model_type 'bert'"):
        hub_download.pull("someone/bert", progress=False)
    fake_hub.add_repo("someone/noconfig", {"model.safetensors": b"w" * 64})
    with pytest.raises(CheckpointError, match="has no config.json"):
        hub_download.pull("someone/noconfig", progress=False)


def test_pull_refuses_an_incomplete_checkpoint(fake_hub: FakeHub) -> None:
    files = sam_checkpoint_files()
    del files["tokenizer.json"]
    fake_hub.add_repo(REPO, files)
    with pytest.raises(CheckpointError, match="not a complete SAM checkpoint.*tokenizer.json"):
        hub_download.pull(REPO, progress=False)


def test_hub_errors_are_one_line(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.add_repo(REPO, sam_checkpoint_files())
    fake_hub.add_repo("acme/gated", sam_checkpoint_files(), gated=True)
    cases = [
        (lambda: hub_download.pull("acme/missing", progress=False), "repository not found on the Hub: acme/missing"),
        (lambda: hub_download.pull(REPO, "v9", progress=False), "revision not found: 'v9' in acme/sam-small"),
        (lambda: hub_download.pull("acme/gated", progress=False), "acme/gated: the repository is gated"),
    ]
    for call, expected in cases:
        with pytest.raises(CheckpointError) as e:
            call()
        assert expected in str(e.value) and "\n" not in str(e.value)

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", dead)
    with pytest.raises(CheckpointError) as e:
        hub_download.pull("acme/elsewhere", progress=False)
    assert str(e.value).startswith(f"cannot reach the Hub at {dead}") and "\n" not in str(e.value)


def test_pull_offline_fails_without_requests(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE=1"):
        hub_download.pull(REPO)
    assert fake_hub.requests == []


# ---------------------------------------------------------------------------------------------------------------
# list / remove


def test_list_models_shows_each_cached_revision(fake_hub: FakeHub, two_versions: tuple[str, str]) -> None:
    old, new = two_versions
    hub_download.pull(f"{REPO}@v1", progress=False)
    hub_download.pull(REPO, progress=False)
    models = local_models.list_models()
    assert [(m.name, m.source, m.refs, m.commit) for m in models] == [
        (REPO, "hub", ("main",), new),
        (REPO, "hub", ("v1",), old),
    ]
    for m in models:
        assert m.size_bytes == sum(len(b) for b in fake_hub.files(REPO, m.commit).values())
        assert m.path == local_models.cached_snapshot(REPO, m.commit)
    assert models[0].revision == "main"


def test_list_models_without_a_cache(fake_hub: FakeHub, no_bundled: Path) -> None:
    assert not hub_settings.cache_dir().exists()
    assert local_models.list_models() == []
    write_folder(no_bundled / "sam-tiny", {"model_type": "sam"})
    (bundled,) = local_models.list_models()
    assert (bundled.name, bundled.source, bundled.commit) == ("sam-tiny", "bundled", None)
    assert bundled.size_bytes == (no_bundled / "sam-tiny" / "config.json").stat().st_size


def test_remove_one_revision_then_all(fake_hub: FakeHub, two_versions: tuple[str, str]) -> None:
    old, new = two_versions
    hub_download.pull(f"{REPO}@v1", progress=False)
    hub_download.pull(REPO, progress=False)
    cache = hub_settings.cache_dir() / "models--acme--sam-small"

    freed = local_models.remove_model(REPO, "v1")
    # Blobs shared by both commits (README, tokenizer, config) stay: only the old weights go.
    assert freed == len(fake_hub.files(REPO, old)["model.safetensors"])
    assert [m.refs for m in local_models.list_models()] == [("main",)]
    assert not (cache / "snapshots" / old).exists()

    freed = local_models.remove_model(REPO)
    assert freed == sum(len(b) for b in fake_hub.files(REPO, new).values())
    assert local_models.list_models() == []
    assert not cache.exists()
    with pytest.raises(CheckpointError, match="model acme/sam-small is not in the cache"):
        local_models.remove_model(REPO)


def test_remove_refuses_bundled_and_unknown_revisions(
    fake_hub: FakeHub, no_bundled: Path, two_versions: tuple[str, str]
) -> None:
    write_folder(no_bundled / "sam-tiny", {"model_type": "sam"})
    with pytest.raises(CheckpointError, match="'sam-tiny' is bundled with sam and cannot be removed"):
        local_models.remove_model("sam-tiny")
    assert (no_bundled / "sam-tiny" / "config.json").exists()

    hub_download.pull(REPO, progress=False)
    with pytest.raises(CheckpointError, match=r"revision 'v1' of acme/sam-small is not in the cache \(cached: main\)"):
        local_models.remove_model(REPO, "v1")
    assert len(local_models.list_models()) == 2  # the bundled model and main


# ---------------------------------------------------------------------------------------------------------------
# resolve_model: Hub ids


def test_resolve_uses_the_cache(fake_hub: FakeHub, two_versions: tuple[str, str]) -> None:
    old, new = two_versions
    main = hub_download.pull(REPO, progress=False)
    tagged = hub_download.pull(REPO, "v1", progress=False)
    fake_hub.clear_log()
    assert hub.resolve_model(REPO) == main.path
    assert hub.resolve_model(f"{REPO}@main") == main.path
    assert hub.resolve_model(f"{REPO}@v1") == tagged.path
    assert hub.resolve_model(f"{REPO}@{old}") == tagged.path
    assert fake_hub.requests == []


def test_resolve_offline_uncached_fails_at_once(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.add_repo(REPO, sam_checkpoint_files())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as e:
        hub.resolve_model(REPO)
    assert time.perf_counter() - start < 1.0
    assert str(e.value) == f"model {REPO} is not in the cache and HF_HUB_OFFLINE=1; run: sam pull {REPO}"
    with pytest.raises(CheckpointError, match=f"run: sam pull {REPO}@v2$"):
        hub.resolve_model(f"{REPO}@v2")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(CheckpointError, match="not in the cache"):
        hub.resolve_model(REPO, offline=True)
    assert fake_hub.requests == []


def test_resolve_offline_cached_works(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.add_repo(REPO, sam_checkpoint_files(), tags=("v1",))
    pulled = hub_download.pull(REPO, progress=False)
    fake_hub.clear_log()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.resolve_model(REPO) == pulled.path
    assert hub.resolve_model(f"{REPO}@{pulled.commit}") == pulled.path
    with pytest.raises(CheckpointError, match="@v1 is not in the cache"):  # the tag was never pulled
        hub.resolve_model(f"{REPO}@v1")
    assert fake_hub.requests == []


def test_resolve_downloads_when_online(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    commit = fake_hub.add_repo(REPO, sam_checkpoint_files())
    path = hub.resolve_model(REPO)
    assert path == hub_settings.cache_dir() / "models--acme--sam-small" / "snapshots" / commit
    assert_same_files(path, fake_hub.files(REPO))
    err = capsys.readouterr().err
    assert f"{REPO} is not in the cache; downloading it from {fake_hub.endpoint}" in err
    assert f"saved {REPO} (commit {commit[:8]}" in err


def test_resolve_completes_a_partial_snapshot(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.add_repo(REPO, sam_checkpoint_files())
    pulled = hub_download.pull(REPO, progress=False)
    (pulled.path / "model.safetensors").unlink()  # as if the download had been interrupted
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match=r"only partly in the cache \(missing model.safetensors\).*sam pull"):
        hub.resolve_model(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub.resolve_model(REPO) == pulled.path
    assert_same_files(pulled.path, fake_hub.files(REPO))


def test_resolve_refuses_a_cached_non_sam_repo(fake_hub: FakeHub) -> None:
    # As if another tool had put a Mamba-2 LM in the shared cache.
    from huggingface_hub import snapshot_download

    config = {"d_model": 768, "n_layer": 24, "ssm_cfg": {"layer": "Mamba2"}}
    fake_hub.add_repo("state-spaces/mamba2-130m", {**sam_checkpoint_files(), "config.json": json.dumps(config)})
    snapshot_download("state-spaces/mamba2-130m", cache_dir=hub_settings.cache_dir(), endpoint=fake_hub.endpoint)
    with pytest.raises(CheckpointError, match="Mamba-2 language model.*sam train"):
        hub.resolve_model("state-spaces/mamba2-130m", offline=True)
    with pytest.raises(CheckpointError, match="is in the HF cache but is not a SAM checkpoint"):
        local_models.remove_model("state-spaces/mamba2-130m")
    assert local_models.cached_snapshot("state-spaces/mamba2-130m") is not None


# ---------------------------------------------------------------------------------------------------------------
# resolve_model: folders, bundled models, defaults


def test_resolve_local_folders(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_folder(tmp_path / "ckpt", {"model_type": "sam"})
    assert hub.resolve_model(str(good)) == good
    empty = write_folder(tmp_path / "empty", None)
    with pytest.raises(CheckpointError, match=r"empty: not a SAM checkpoint folder \(no config.json\)$"):
        hub.resolve_model(str(empty))
    eat = write_folder(tmp_path / "eat", {"model_type": "eat"})
    with pytest.raises(CheckpointError, match="EAT audio encoder"):
        hub.resolve_model(str(eat))

    for missing in ("./nope", str(tmp_path / "nope"), "~/surely-not-here-sam", "a/b/c"):
        with pytest.raises(CheckpointError, match=f"^{missing}: no such model folder$"):
            hub.resolve_model(missing)

    # An existing relative folder that looks like a Hub id wins over the Hub, without any request.
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "acme" / "sam-small", {"model_type": "sam"})
    assert hub.resolve_model("acme/sam-small") == tmp_path / "acme" / "sam-small"
    assert fake_hub.requests == []


def test_resolve_bundled_and_defaults(
    fake_hub: FakeHub, no_bundled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CheckpointError) as e:
        hub.resolve_model()
    assert "default model 'sam-tiny' is not bundled" in str(e.value) and "sam pull owner/name" in str(e.value)
    with pytest.raises(CheckpointError, match="unknown model 'tiny2': .*bundled: none"):
        hub.resolve_model("tiny2")

    tiny = write_folder(no_bundled / "sam-tiny", {"model_type": "sam"})
    assert hub.resolve_model() == tiny
    assert hub.resolve_model("sam-tiny") == tiny

    local = write_folder(tmp_path / "mine", {"model_type": "sam"})
    monkeypatch.setenv("SAM_MODEL", str(local))
    assert hub.resolve_model() == local
    assert hub.resolve_model("sam-tiny") == tiny  # an explicit spec beats the environment

    pulled_commit = fake_hub.add_repo(REPO, sam_checkpoint_files())
    hub_download.pull(REPO, progress=False)
    monkeypatch.setenv("SAM_MODEL", REPO)
    assert hub.resolve_model(offline=True).name == pulled_commit


def test_parse_model_spec() -> None:
    assert model_spec.parse_model_spec("acme/sam-small") == ("acme/sam-small", None)
    assert model_spec.parse_model_spec("acme/sam-small@v1.0") == ("acme/sam-small", "v1.0")
    assert model_spec.parse_model_spec("acme/sam@refs/pr/3") == ("acme/sam", "refs/pr/3")
    for bad in ("acme", "acme/", "a/b/c", "acme/sam@", "acme/sam--x", "ac me/sam"):
        with pytest.raises(UsageError, match="invalid model id"):
            model_spec.parse_model_spec(bad)
