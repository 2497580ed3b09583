"""Text side: a thin wrapper over a `tokenizers` tokenizer.json, and the prompt template (docs/design.md §6, §8).

SAM's LMs use EleutherAI/gpt-neox-20b's byte-level BPE, where `<|endoftext|>` (id 0) is both bos and eos.
The `state-spaces` LM repos ship no tokenizer, so every SAM checkpoint carries its own tokenizer.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from sam_cli.errors import CheckpointError

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|padding|>"

# LTU's template (docs/design.md §8): the audio embeddings come first, then this, then the answer and EOS.
PROMPT_TEMPLATE = "### Instruction:\n{question}\n\n### Response:\n"
DESCRIBE_PROMPT = "Close-ended question: Write an audio caption describing the sound."
# LTU's classification instruction; models without a tagging head answer it with "Label, label, ...".
CLASSIFY_PROMPT = "Close-ended question: Identify the sound events in the audio clip."


def format_prompt(question: str, template: str = PROMPT_TEMPLATE) -> str:
    return template.replace("{question}", question.strip())


class Tokenizer:
    def __init__(self, tok: HFTokenizer, eos_token: str = EOS_TOKEN):
        self.tok = tok
        eos = tok.token_to_id(eos_token)
        if eos is None:
            raise CheckpointError(f"tokenizer has no end-of-text token {eos_token!r}")
        self.eos_token = eos_token
        self.eos_id = eos

    @classmethod
    def from_file(cls, path: str | Path, eos_token: str = EOS_TOKEN) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: tokenizer file not found")
        try:
            tok = HFTokenizer.from_file(str(path))
        except Exception as e:  # the Rust side raises plain Exception subclasses
            raise CheckpointError(f"{path}: not a valid tokenizer.json ({str(e).splitlines()[0][:160]})") from None
        return cls(tok, eos_token)

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)

    def stream(self) -> StreamDecoder:
        return StreamDecoder(self)


class StreamDecoder:
    """Turns token ids into text as they arrive.

    Byte-level BPE can split one character over several tokens, so text is released only once it decodes
    without a trailing replacement character.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.emitted = 0

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return ""
        new, self.emitted = text[self.emitted:], len(text)
        return new

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids)
        new, self.emitted = text[self.emitted:], len(text)
        return new


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> Tokenizer:
    """A GPT-NeoX-style byte-level BPE trained on `texts`, with `<|endoftext|>` = 0 and `<|padding|>` = 1."""
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return Tokenizer(tok)
