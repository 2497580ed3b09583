"""The SAM paper's analysis of audio tokens (§4.1-4.2): τ-effective rank, token cosine similarity and the state
update distance, per layer and per checkpoint (`sam analyze`; `sam train` logs them at checkpoints)."""
