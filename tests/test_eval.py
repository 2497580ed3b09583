"""`sam eval`: metrics against reference values on fixed inputs, each dataset layout end to end with the
bundled model on small sets built here from the project's recordings and synthesised tones, resuming, the
torchrun split, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import REPO, assert_clean_error, sam

pytest.importorskip("sklearn")
pytest.importorskip("pycocoevalcap.bleu.bleu")

from sam_cli.evaluation.captions import caption_metrics, python_tokenize  # noqa: E402
from sam_cli.evaluation.datasets import Dataset, Item  # noqa: E402
from sam_cli.evaluation.metrics import classification_metrics, d_prime, mmau_match, ranking_metrics  # noqa: E402
from sam_cli.evaluation.run import load_rows, shard_items  # noqa: E402
from sam_cli.evaluation.score import score  # noqa: E402
from sam_cli.evaluation.text_map import label_similarities  # noqa: E402

EXAMPLES = REPO / "examples"


# --- metrics on fixed inputs ------------------------------------------------------------------------------
def test_average_precision_auc_and_d_prime_by_hand():
    # Class 0: positives ranked 1st and 3rd of 4 -> AP = (1/1 + 2/3) / 2; AUC = 3 of 4 pairs ordered right.
    # Class 1: its one positive ranked 2nd of 4 -> AP = 1/2; AUC = 2/3.
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.9], [0.6, 0.2]])
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    m = ranking_metrics(scores, y)
    assert m["mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert m["mAUC"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert m["d_prime"] == pytest.approx(math.sqrt(2) * 0.5485, abs=1e-3)  # Phi^-1(0.70833) = 0.5485 (tables)
    assert d_prime(0.5) == 0.0
    from sklearn.metrics import average_precision_score

    assert m["mAP"] == pytest.approx(np.mean([average_precision_score(y[:, c], scores[:, c]) for c in range(2)]))


def test_classes_without_positives_are_left_out_and_accuracy_is_argmax():
    vocab = ["dog", "cow", "bell"]
    scores = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [2.0, 1.0, 0.0]])
    m = classification_metrics(scores, [("dog",), ("cow",), ("cow",)], vocab, multi_label=False)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["classes_scored"] == 2  # "bell" has no clip


@pytest.mark.parametrize("prediction, right", [
    ("Dog barking.", True),             # every answer token, no token of another choice
    ("The answer is: dog barking", True),
    ("dog", False),                      # "barking" missing
    ("Dog barking or cat meowing", False),  # names another choice's tokens
    ("dog growling", False),             # "growling" belongs only to a wrong choice
    ("", False),                         # no tokens at all
    ("DOG, BARKING!", True),             # case and punctuation do not matter
])
def test_mmau_string_match_rule(prediction, right):
    choices = ["Dog barking", "Cat meowing", "Dog growling"]
    assert mmau_match("Dog barking", prediction, choices) is right


def test_mmau_rule_ignores_choices_spelt_like_the_answer():
    # A choice with the answer's token set is not "incorrect": its tokens do not count against the prediction.
    assert mmau_match("a piano", "piano", ["A piano", "piano", "guitar"]) is False  # "a" missing
    assert mmau_match("piano", "the piano", ["Piano", "piano!", "guitar"]) is True


def test_caption_metrics_match_hand_computed_bleu_and_rouge():
    refs = {"c1": ["a dog barks", "the dog is barking loudly"], "c2": ["rain falls on a roof", "heavy rain"]}
    preds = {"c1": "a dog barks loudly", "c2": "rain falls on a roof"}
    m, notes = caption_metrics(refs, preds, java=False)
    assert any("METEOR and SPICE skipped" in n for n in notes) and "SPICE" not in m and "METEOR" not in m
    # Corpus BLEU (COCO code): clipped counts summed over clips. Unigrams: 4/4 + 5/5; bigrams: 2/3 + 4/4;
    # reference length: the closest to each candidate (3 for c1, 5 for c2: 8 <= 9 candidate words, BP = 1).
    assert m["BLEU_1"] == pytest.approx(1.0, abs=1e-6)
    assert m["BLEU_2"] == pytest.approx(math.sqrt(1.0 * 6 / 7), abs=1e-6)
    # ROUGE-L (beta 1.2), best precision and best recall over references: c1 P = 3/4, R = 1; c2 exact: 1.
    f = lambda p, r: (1 + 1.2**2) * p * r / (r + 1.2**2 * p)  # noqa: E731
    assert m["ROUGE_L"] == pytest.approx((f(0.75, 1.0) + 1.0) / 2, abs=1e-6)
    assert m["CIDEr-D"] > 0
    same, _ = caption_metrics(refs, {"c1": "a dog barks", "c2": "heavy rain"}, java=False)
    assert same["BLEU_1"] == pytest.approx(1.0, abs=1e-6) and same["ROUGE_L"] == pytest.approx(1.0)


def test_python_tokenizer_drops_punctuation_like_ptb():
    assert python_tokenize("A dog's bark, then -- silence...") == "a dog 's bark then silence"


class BagOfWords:
    """A real, deterministic text encoder (word counts over a fixed vocabulary), through the same pluggable
    interface (`name`, `encode`) as the sentence-transformers one."""

    name = "bag-of-words"

    def __init__(self, vocab: list[str]):
        self.index = {w: i for i, w in enumerate(vocab)}

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.index)))
        for row, t in enumerate(texts):
            for w in t.lower().replace(".", " ").replace(",", " ").split():
                if w in self.index:
                    out[row, self.index[w]] += 1
        return out


def test_ltu_cosine_mapping_with_a_pluggable_encoder():
    enc = BagOfWords(["sound", "of", "dog", "barks", "cow", "moos", "church", "bells"])
    sims = label_similarities(enc, ["A dog barks.", "Church bells ring.", "Silence."], ["dog", "cow", "church bells"])
    assert list(np.argmax(sims[:2], axis=1)) == [0, 2]
    # "sound of dog barks" . "sound of dog" = 3 / (2 * sqrt 3): the cosine, with LTU's "sound of " prefix.
    assert sims[0, 0] == pytest.approx(3 / (2 * math.sqrt(3)))
    ds = Dataset("esc50", [Item("a", Path("a.wav"), labels=("dog",)), Item("b", Path("b.wav"), labels=("cow",))],
                 ["dog", "cow", "church bells"])
    rows = {"a": {"id": "a", "text": "A dog barks."}, "b": {"id": "b", "text": "Church bells."}}
    out = score(ds, rows, ("ltu",), encoder=enc)
    assert out["methods"]["ltu"]["accuracy"] == 0.5 and out["methods"]["ltu"]["text_encoder"] == "bag-of-words"


def test_sentence_transformers_encoder_from_a_local_folder(tmp_path):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed here")
    from sam_cli.evaluation.text_map import SentenceTransformerEncoder

    try:  # sentence-transformers 6 moved its modules
        from sentence_transformers.sentence_transformer.modules import Pooling, WordEmbeddings
        from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer
    except ImportError:
        from sentence_transformers.models import Pooling, WordEmbeddings
        from sentence_transformers.models.tokenizer import WhitespaceTokenizer

    # A real sentence-transformers model, built and saved here: one-hot word vectors, mean pooling.
    words = ["sound", "of", "dog", "cow", "bells"]
    emb = WordEmbeddings(WhitespaceTokenizer(words), np.eye(len(words)))
    model = st.SentenceTransformer(modules=[emb, Pooling(len(words))])
    model.save(str(tmp_path / "bow"))
    enc = SentenceTransformerEncoder(str(tmp_path / "bow"))
    sims = label_similarities(enc, ["dog", "bells"], ["cow", "dog", "bells"])
    assert list(np.argmax(sims, axis=1)) == [1, 2]


def test_shard_split_and_merge_cover_every_clip_once(tmp_path):
    items = [Item(str(i), Path(f"{i}.wav")) for i in range(7)]
    parts = [shard_items(items, (r, 3)) for r in range(3)]
    assert sorted(it.id for p in parts for it in p) == [str(i) for i in range(7)]
    header = {"task": "esc50"}
    for r, part in enumerate(parts):
        lines = [{"sam_eval": header}] + [{"id": it.id, "text": "x"} for it in part]
        (tmp_path / f"p{r}.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    h, rows = load_rows([tmp_path / f"p{r}.jsonl" for r in range(3)])
    assert h == header and sorted(rows) == [str(i) for i in range(7)]


# --- small datasets built from the project's recordings ------------------------------------------------
def tone(path: Path, freq: float, seconds: float = 2.0) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
    return path


def esc50(root: Path) -> Path:
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = [("1-dog.wav", 1, 0, "dog", "dog_bark"), ("1-cow.wav", 1, 1, "cow", "cow_then_piano"),
            ("2-bell.wav", 2, 2, "church_bells", "bell_then_woman"), ("2-dog.wav", 2, 0, "dog", "dog_bark")]
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for name, fold, target, cat, src in rows:
        shutil.copy(EXAMPLES / f"{src}.wav", root / "audio" / name)
        lines.append(f"{name},{fold},{target},{cat},False,x,A")
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    return root


class Ran:
    """What an in-process `sam` run left: exit code, stdout, stderr (the CLI as the shell calls it, without
    paying a new interpreter and torch import per run on a loaded 2-core machine)."""

    def __init__(self, result):
        self.returncode, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr


def cli(*args: str, model: Path | None = None) -> Ran:
    from typer.testing import CliRunner

    from sam_cli.cli import app

    env = {"SAM_MODEL": str(model) if model is not None else None, "HF_HUB_OFFLINE": "1"}
    return Ran(CliRunner().invoke(app, list(args), env=env))


def results(p) -> dict:
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def one_line_error(p: Ran, pattern: str, code: int = 2) -> None:
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode == code and len(lines) == 1 and p.stdout == "", (p.returncode, p.stderr)
    assert lines[0].startswith("sam: error: ") and pattern.lower() in lines[0].lower(), lines


def test_esc50_end_to_end_then_rescored_without_a_model(tmp_path):
    data = esc50(tmp_path / "ESC-50")
    out = tmp_path / "r.json"
    r = results(cli("eval", "esc50", str(data), "-o", str(out), "-b", "2"))
    sam_m = r["methods"]["sam"]
    assert r["clips"] == 4 and r["scored"] == 4 and 0 <= sam_m["accuracy"] <= 1 and 0 < sam_m["mAP"] <= 1
    assert json.loads(out.read_text()) == r
    rows = (tmp_path / "r.predictions.jsonl").read_text().splitlines()
    assert len(rows) == 5 and json.loads(rows[0])["sam_eval"]["task"] == "esc50"
    assert {json.loads(l)["id"] for l in rows[1:]} == {"1-dog.wav", "1-cow.wav", "2-bell.wav", "2-dog.wav"}
    # The saved predictions alone give the same numbers: no model is loaded (a model that does not exist),
    # and the audio need not be there.
    shutil.rmtree(data / "audio")
    again = results(cli("eval", "esc50", str(data), "--predictions", str(tmp_path / "r.predictions.jsonl"),
                        "-o", str(tmp_path / "r2.json"), model=tmp_path / "no-such-model"))
    assert again["methods"] == r["methods"]
    fold = results(cli("eval", "esc50", str(data), "--fold", "2", "-o", str(tmp_path / "f.json"),
                       "--predictions", str(tmp_path / "r.predictions.jsonl")))
    assert fold["clips"] == 2


def test_audioset_layout_multi_label(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(EXAMPLES / "dog_bark.wav", audio / "YdogAAAAAAAA.wav")  # "Y" + an 11-character id
    shutil.copy(EXAMPLES / "cow_then_piano.wav", audio / "cowBBBBBBBB_30000.wav")
    shutil.copy(EXAMPLES / "bell_then_woman.wav", audio / "bellCCCCCCC.wav")
    (tmp_path / "labels.csv").write_text('index,mid,display_name\n0,/m/dog,Dog\n1,/m/cow,"Cattle, bovinae"\n'
                                         '2,/m/piano,Piano\n3,/m/bell,Church bell\n4,/m/speech,Speech\n')
    (tmp_path / "eval_segments.csv").write_text(
        "# Segments csv created Sun Mar  5 10:54:25 2017\n# num_ytids=3\n# YTID, start_seconds, end_seconds, "
        'positive_labels\ndogAAAAAAAA, 30.000, 40.000, "/m/dog"\ncowBBBBBBBB, 30.000, 40.000, "/m/cow,/m/piano"\n'
        'bellCCCCCCC, 0.000, 10.000, "/m/bell,/m/speech"\ngoneDDDDDDD, 0.000, 10.000, "/m/dog"\n')
    args = ["eval", "audioset", str(tmp_path / "eval_segments.csv"), "--labels", str(tmp_path / "labels.csv"),
            "--audio-dir", str(audio), "-o", str(tmp_path / "a.json")]
    one_line_error(cli(*args), "1 of 4 clips have no audio file (e.g.", 2)  # a clip YouTube no longer has
    r = results(cli(*args, "--skip-missing"))
    m = r["methods"]["sam"]
    assert r["clips"] == 3 and r["clips_without_audio"] == 1
    assert r["multi_label"] and r["labels"] == 5 and "accuracy" not in m
    assert 0 < m["mAP"] <= 1 and m["classes_scored"] == 5 and (m["d_prime"] is None or m["d_prime"] > -10)


def test_plain_csv_with_tones_and_a_failed_clip(tmp_path):
    tone(tmp_path / "low.wav", 220)
    tone(tmp_path / "high.wav", 1760)
    shutil.copy(EXAMPLES / "dog_bark.wav", tmp_path / "dog.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEnot audio at all")
    (tmp_path / "data.csv").write_text("file,label\nlow.wav,tone\nhigh.wav,tone\ndog.wav,dog;animal\n"
                                       "broken.wav,tone\n")
    p = cli("eval", "classify", str(tmp_path / "data.csv"), "-o", str(tmp_path / "c.json"))
    assert p.returncode == 1 and "1 clips failed" in p.stderr, p.stderr  # reported, and the others scored
    r = json.loads(p.stdout)
    assert r["failed"] == 1 and r["scored"] == 3 and r["multi_label"] and r["labels"] == 3
    rows = [json.loads(l) for l in (tmp_path / "c.predictions.jsonl").read_text().splitlines()[1:]]
    assert [("error" in row) for row in rows] == [False, False, False, True]
    # A longer label list: the clips are scored again for it (the failed one stays failed), not mixed.
    (tmp_path / "labels.txt").write_text("tone\ndog\nanimal\nbird\n")
    p = cli("eval", "classify", str(tmp_path / "data.csv"), "--labels", str(tmp_path / "labels.txt"),
            "-o", str(tmp_path / "c.json"))
    assert "3 clips predicted, 1 already done" in p.stderr, p.stderr
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "c.predictions.jsonl").read_text().splitlines()[1:])}
    assert len(rows) == 4  # the last row of each clip counts (the file is compacted at the next run)
    assert all(set(row["scores"]) == {"tone", "dog", "animal", "bird"} for row in rows.values() if "error" not in row)


def test_audiocaps_and_clotho_captions(tmp_path):
    for name in ("dog_bark", "cow_then_piano"):
        shutil.copy(EXAMPLES / f"{name}.wav", tmp_path / f"{name}.wav")
    (tmp_path / "audiocaps.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n1,dog_bark,0,A dog barks twice.\n2,dog_bark,0,A dog is barking.\n"
        "3,cow_then_piano,0,A cow moos and then a piano plays.\n4,cow_then_piano,0,Cattle low and a piano plays.\n")
    r = results(cli("eval", "audiocaps", str(tmp_path / "audiocaps.csv"), "-o", str(tmp_path / "ac.json")))
    m = r["methods"]["generate"]
    assert r["clips"] == 2 and 0 < m["BLEU_1"] <= 1 and m["CIDEr-D"] >= 0 and 0 <= m["ROUGE_L"] <= 1
    if shutil.which("java"):
        assert 0 < m["METEOR"] <= 1
    assert "SPICE" in m or any("SPICE" in n for n in r.get("notes", []))
    (tmp_path / "clotho.csv").write_text(
        "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
        "dog_bark.wav,A dog barks.,A dog barks twice.,Barking.,A dog is barking.,Two barks of a dog.\n")
    r = results(cli("eval", "clotho", str(tmp_path / "clotho.csv"), "--no-java", "--samples", "2",
                    "--temperature", "0.8", "--seed", "1", "-o", str(tmp_path / "cl.json")))
    m = r["methods"]["generate"]
    assert "mean over 2 sampled" in m["how"] and set(m["std"]) >= {"BLEU_1", "CIDEr-D"} and "METEOR" not in m
    rows = (tmp_path / "cl.predictions.jsonl").read_text().splitlines()
    assert len(json.loads(rows[1])["texts"]) == 2


def test_mmau_both_methods_per_task_and_difficulty(tmp_path):
    shutil.copy(EXAMPLES / "dog_bark.wav", tmp_path / "dog.wav")
    shutil.copy(EXAMPLES / "cow_then_piano.wav", tmp_path / "cow.wav")
    questions = [
        {"id": "q1", "audio_id": "dog.wav", "question": "Which animal is heard?", "choices": ["Dog", "Cat", "Cow"],
         "answer": "Dog", "task": "sound", "difficulty": "easy"},
        {"id": "q2", "audio_id": "cow.wav", "question": "Which instrument plays?", "choices": ["Piano", "Guitar"],
         "answer": "Piano", "task": "music", "difficulty": "hard"}]
    (tmp_path / "mmau.json").write_text(json.dumps(questions))
    r = results(cli("eval", "mmau", str(tmp_path / "mmau.json"), "--method", "both", "-o", str(tmp_path / "m.json")))
    for method in ("match", "choices"):
        m = r["methods"][method]
        assert m["questions"] == 2 and set(m["by_task"]) == {"sound", "music"}
        assert set(m["by_difficulty"]) == {"easy", "hard"} and 0 <= m["accuracy"] <= 1
    rows = [json.loads(l) for l in (tmp_path / "m.predictions.jsonl").read_text().splitlines()[1:]]
    # The reported accuracy is the rule applied to the saved answers.
    right = [mmau_match(q["answer"], row["text"], q["choices"]) for q, row in zip(questions, rows)]
    assert r["methods"]["match"]["accuracy"] == pytest.approx(sum(right) / 2)


# --- resuming ----------------------------------------------------------------------------------------------
def many_clips(root: Path, n: int) -> Path:
    root.mkdir()
    names = ["dog_bark", "cow_then_piano", "bell_then_woman", "man_speaks_then_beeps"]
    lines = ["file,label"]
    for i in range(n):
        src = names[i % len(names)]
        shutil.copy(EXAMPLES / f"{src}.wav", root / f"{i:02d}.wav")
        lines.append(f"{i:02d}.wav,{src.split('_')[0]}")
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root / "data.csv"


def test_a_cut_off_run_resumes_without_repeating_or_losing_a_clip(tmp_path):
    data = many_clips(tmp_path / "d", 3)
    out = tmp_path / "r.json"
    full = results(cli("eval", "classify", str(data), "-o", str(out)))
    pred = tmp_path / "r.predictions.jsonl"
    lines = pred.read_text().splitlines(keepends=True)
    # As a crash leaves it: two rows done, the third cut off half-way through its line.
    pred.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    p = cli("eval", "classify", str(data), "-o", str(out))
    again = results(p)
    assert "1 clips predicted, 2 already done" in p.stderr
    after = pred.read_text().splitlines(keepends=True)
    assert after[:3] == lines[:3] and [json.loads(l)["id"] for l in after[1:]] == ["00.wav", "01.wav", "02.wav"]
    assert again["methods"] == full["methods"]
    # Other settings refuse rather than mix two runs' rows.
    one_line_error(cli("eval", "classify", str(data), "-o", str(out), "--prompt", "Other."), "other settings", 2)
    from sam_cli.batch.ledger import locked

    with locked(pred):  # another run holds it
        one_line_error(cli("eval", "classify", str(data), "-o", str(out)), "another `sam eval` is writing it", 2)


def test_ctrl_c_then_rerun(tmp_path):
    data = many_clips(tmp_path / "d", 8)
    pred = tmp_path / "r.predictions.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME="/nonexistent-hf-home")
    proc = subprocess.Popen([sys.executable, "-m", "sam_cli", "eval", "classify", str(data), "-o",
                             str(tmp_path / "r.json"), "-b", "1"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if pred.exists() and len(pred.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    before = pred.read_text().splitlines()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert proc.returncode == 130 and b"interrupted" in stderr and b"Traceback" not in stderr, stderr
    p = cli("eval", "classify", str(data), "-o", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    assert f"{len(before) - 1} already done" in p.stderr
    after = pred.read_text().splitlines()
    assert after[: len(before)] == before
    assert [json.loads(l)["id"] for l in after[1:]] == [f"{i:02d}.wav" for i in range(8)]


# --- torchrun's split -------------------------------------------------------------------------------------
def test_two_processes_split_the_clips_and_meet(tmp_path):
    data = many_clips(tmp_path / "d", 3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAM_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME="/nonexistent-hf-home", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port))
    procs = [subprocess.Popen([sys.executable, "-m", "sam_cli", "eval", "classify", str(data), "-o",
                               str(tmp_path / "r.json")], cwd=REPO, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    shards = [tmp_path / f"r.predictions.shard-{r}-of-2.jsonl" for r in range(2)]
    ids = [[json.loads(l)["id"] for l in s.read_text().splitlines()[1:]] for s in shards]
    assert ids == [["00.wav", "02.wav"], ["01.wav"]]
    merged = json.loads(outs[0][0])  # rank 0 scores the union; rank 1 prints nothing
    assert merged["scored"] == 3 and outs[1][0] == b""
    # Without MASTER_ADDR the shards are scored together afterwards.
    again = results(cli("eval", "classify", str(data), "--predictions", str(shards[0]), "--predictions", str(shards[1]),
                        "-o", str(tmp_path / "m.json")))
    assert again["methods"] == merged["methods"]


# --- bad input -----------------------------------------------------------------------------------------------
def test_bad_inputs_give_one_line_errors(tmp_path):
    data = esc50(tmp_path / "ESC-50")
    (data / "audio" / "2-dog.wav").unlink()
    # The real process: one line on stderr, exit code 2, nothing on stdout, no traceback.
    assert_clean_error(sam("eval", "esc50", str(data)), "1 of 4 clips have no audio file", 2)
    one_line_error(cli("eval", "esc50", str(tmp_path)), "not an ESC-50 folder", 2)
    (tmp_path / "bad.csv").write_text('file,label\n"dog.wav,dog\n')
    one_line_error(cli("eval", "classify", str(tmp_path / "bad.csv")), "bad.csv", 2)
    (tmp_path / "short.csv").write_text("file,label\ndog.wav\n")
    one_line_error(cli("eval", "classify", str(tmp_path / "short.csv")), "line 2", 2)
    shutil.copy(EXAMPLES / "dog_bark.wav", tmp_path / "dog.wav")
    (tmp_path / "ok.csv").write_text("file,label\ndog.wav,dog\n")
    (tmp_path / "labels.txt").write_text("cat\ncow\n")
    one_line_error(cli("eval", "classify", str(tmp_path / "ok.csv"), "--labels", str(tmp_path / "labels.txt")),
                       "label 'dog' is not in", 2)
    (tmp_path / "seg.csv").write_text('YTID, start_seconds, end_seconds, positive_labels\nabc, 0, 10, "/m/x"\n')
    (tmp_path / "l.csv").write_text("index,mid,display_name\n0,/m/y,Y\n")
    one_line_error(cli("eval", "audioset", str(tmp_path / "seg.csv"), "--labels", str(tmp_path / "l.csv")),
                       "label /m/x is not in", 2)
    (tmp_path / "q.json").write_text("[{")
    one_line_error(cli("eval", "mmau", str(tmp_path / "q.json")), "not valid JSON", 2)
    one_line_error(cli("eval", "nope", str(tmp_path)), "unknown task", 2)
    one_line_error(cli("eval", "classify", str(tmp_path / "ok.csv"), "--method", "ltu"), "--text-encoder", 2)
    one_line_error(cli("eval", "classify", str(tmp_path / "ok.csv"), "--method", "ltu", "--text-encoder",
                           str(tmp_path / "no-encoder")), "text-encoder", 2)
    one_line_error(cli("eval", "classify", str(tmp_path / "ok.csv"), "--predictions", str(tmp_path / "none")),
                       "no such file", 2)
