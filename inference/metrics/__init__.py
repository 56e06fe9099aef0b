"""Objective metrics of generated sounds, each a small module of pure functions over numpy arrays.

* ``timbre``  - cosine similarity (paper, eq. 10) of Resemblyzer embeddings to the reference;
  ``TimbreEncoder`` loads the network once and embeds many clips in shared batches, with a guard
  against Resemblyzer's speech-oriented silence trimming.
* ``mcd``     - mel-cepstral distance (Kubichek 1993) to the ground truth from HiFi-GAN log-mels,
  frame-by-frame and DTW-aligned (the paper's Tables 7-8).
* ``onsets``  - onset detection, onset accuracy (hits within 0.1 s) and AP, against a reference clip
  or against known event times (SynthVAS).
* ``osg``     - the V2RA paper's objective similarity grade.
* ``summary`` - mean +- 95 % CI per group (category x system), as plain dicts.

Every function validates its inputs (sample rate, shape, NaN, silence) and raises ``ValueError``
with the reason. Submodules are imported explicitly (``from inference.metrics.mcd import mcd``):
importing this package loads neither torch nor librosa nor Resemblyzer.
"""
