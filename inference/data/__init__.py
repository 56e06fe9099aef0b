"""Datasets: video features, the SynthVAS generator and the VAS / raw-video importers.

Generators and importers share one output contract (``records.py``): they yield a ``ClipRecord`` per
usable clip, with file paths relative to the dataset root, and an ``ImportProblem`` per broken input,
so that one bad file never stops an import.
"""
