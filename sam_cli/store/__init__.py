"""Reading and writing models: safetensors, SAM checkpoint folders, the published Mamba-2 and EAT formats,
and the Hugging Face Hub cache. Never unpickles, never runs code from a checkpoint.
"""
