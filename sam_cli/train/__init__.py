"""`sam train`: the SAM paper's training recipe (LTU's 4-stage curriculum) as a command.

- config.py      typed settings, the stage presets, TOML/YAML files and command-line overrides
- data.py        OpenAQA/LTU JSON records, audio loading in DataLoader workers, length-grouped sharding
- build.py       the three starting points (a SAM checkpoint, the published parts, a from-scratch config)
- checkpoints.py the run folder: atomic periodic checkpoints, rotation, exact resume
- loop.py        the training loop (gradient accumulation, DDP under torchrun, eval, samples, export)
- command.py     `register(app)`: the Typer command
"""
