"""Turning audio embeddings into answers: decoding options and rules, the one decode loop, and scoring of
given answers. Runs the language model only through a runner from `accel.select`.
"""
