"""The SAM model as pure PyTorch modules: EAT encoder, connector, Mamba-2 LM (with the SSD maths in ssd.py),
LoRA, the tokenizer and prompt templates. No file I/O, no choice of backend: that is `store/` and `accel/`.
"""
