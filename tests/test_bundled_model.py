"""The bundled model on the bundled example clips, as README's first command runs it: the real `sam` process,
the default model (no --model, no SAM_MODEL), clips built from recordings the model never heard."""

from __future__ import annotations

import json

from helpers import REPO, err, out, sam

EXAMPLES = REPO / "examples"


def test_readme_first_command_names_the_dog():
    p = sam("describe", str(EXAMPLES / "dog_bark.wav"))
    assert p.returncode == 0, err(p)
    caption = out(p).strip()
    assert "dog" in caption.lower(), caption
    answer = sam("ask", str(EXAMPLES / "dog_bark.wav"), "How many times does the dog bark?")
    assert out(answer).strip().lower().startswith("twice"), out(answer)
    absent = sam("ask", str(EXAMPLES / "man_speaks_then_beeps.wav"), "Is there a dog barking?")
    assert out(absent).strip() == "No.", out(absent)


def test_typed_labels_and_choices_are_scored_in_the_models_spelling():
    """Users type "dog" and "twice"; the model writes "Dog barking" and "Twice.". Scored as typed, "cat" won
    for the dog (0.59) and counting choices were right 7% of the time (scripts/evaluate_scoring.py)."""
    p = sam("classify", str(EXAMPLES / "dog_bark.wav"), "--labels", "cat,dog,bird", "--json")
    assert p.returncode == 0, err(p)
    ranked = json.loads(out(p))["labels"]
    assert ranked[0]["label"] == "dog" and ranked[0]["score"] > 0.5, ranked
    p = sam("ask", str(EXAMPLES / "dog_bark.wav"), "How many times does the dog bark?", "--choices",
            "once,twice,three times", "--json")
    assert p.returncode == 0, err(p)
    assert json.loads(out(p))["answer"] == "twice", out(p)


def test_labels_are_read_from_every_item_of_the_tag_list():
    """The model writes "Bell ringing, woman speaking." for this clip: the second sound is scored where the
    model would name it, after the comma, not only as the start of the list."""
    labels = "dog barking,woman speaking,cow mooing,piano,man speaking,beep,bell ringing,cat meowing"
    p = sam("classify", str(EXAMPLES / "bell_then_woman.wav"), "--labels", labels, "--top", "2", "--json")
    assert p.returncode == 0, err(p)
    top = json.loads(out(p))["labels"]
    assert {t["label"] for t in top} == {"bell ringing", "woman speaking"}, top
    assert min(t["score"] for t in top) > 0.3, top


def test_classify_without_a_tagging_head_gives_the_written_tags():
    p = sam("classify", str(EXAMPLES / "dog_bark.wav"), str(EXAMPLES / "cow_then_piano.wav"), "--json")
    assert p.returncode == 0, err(p)
    rows = [json.loads(line) for line in out(p).splitlines()]
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == ["dog_bark.wav", "cow_then_piano.wav"]
    dog = [t["label"] for t in rows[0]["labels"]]
    assert any("dog" in t.lower() for t in dog), dog
    piano = [t["label"] for t in rows[1]["labels"]]
    assert any("piano" in t.lower() for t in piano), piano
    for r in rows:  # one 10-s window: every written tag is named by all (1) windows
        assert all(t["score"] == 1.0 and t["label"][0].isupper() for t in r["labels"]), r
        assert r["model"] == "sam-tiny"


def test_loading_and_describing_stay_off_torch_compile_machinery():
    """Building a model on the meta device for a checkpoint must not run PyTorch's Python references
    (random inits, empty_like on meta): their imports (torch._dynamo, symbolic shapes) cost ~1.3 s of every
    command on the CPU. A fresh process loads the bundled model, captions a clip and reports what it imported."""
    import subprocess
    import sys

    code = ("import sys, sam_cli; from sam_cli.tasks import describe; "
            "m = sam_cli.load_model(None, device='cpu'); "
            f"print(describe(m, {str(EXAMPLES / 'dog_bark.wav')!r})[0].text); "
            "print([n for n in ('torch._dynamo', 'torch.fx.experimental.symbolic_shapes') if n in sys.modules])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr
    caption, imported = p.stdout.strip().splitlines()
    assert "dog" in caption.lower()
    assert imported == "[]", imported


def test_silence_is_not_described_as_a_sound(tmp_path):
    """10 s of digital silence and a 0.1-s clip: before its fine-tune on empty scenes the model said "A beep
    sounds twice." and "A man speaks."; it should say that nothing (or only noise) is heard, and tag it so."""
    import numpy as np
    import soundfile as sf

    silent, short = tmp_path / "silence.wav", tmp_path / "short.wav"
    sf.write(silent, np.zeros(160000, dtype=np.float32), 16000)
    sf.write(short, np.random.default_rng(0).normal(0, 0.01, 1600).astype(np.float32), 16000)
    p = sam("describe", str(silent), str(short), "--json")
    assert p.returncode == 0, err(p)
    for row in map(json.loads, out(p).splitlines()):
        text = row["text"].lower()
        assert any(w in text for w in ("nothing", "silence", "no sound", "background noise")), row["text"]
    tags = sam("classify", str(silent), "--json")
    assert tags.returncode == 0, err(tags)
    top = json.loads(out(tags))["labels"][0]["label"].lower()
    assert top in ("silence", "background noise"), out(tags)
