"""`sam batch`: many files in, one results file out, resumable and crash-safe."""
