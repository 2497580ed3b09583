"""`sam eval`: benchmarks in the layouts people download (ESC-50, AudioSet, a plain file,label CSV, AudioCaps,
Clotho, MMAU), their predictions written resumably, and the field's metrics computed from them.

datasets.py reads a layout into items; predict.py runs the model and appends one prediction row per clip
(ledger.py: the resumable predictions file); score.py turns the rows into metrics (metrics.py: classification
and multiple choice, captions.py: caption metrics, text_map.py: LTU's text-encoder mapping); run.py holds
what ties them together (torchrun's split and merge, the results file).
"""
