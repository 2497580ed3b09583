"""Optional accelerators: each one runs the same maths as the reference in `models/`, faster on some device.

`select.py` is the one place that picks a backend for a model on a device and owns the caches a backend
keeps (fp16 copies on the CPU, fused-kernel views and CUDA graphs on a GPU). Everything else asks it.
"""
