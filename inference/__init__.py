"""The pure-ML media layer of the evaluation platform.

Nothing in this package imports Django: it can be used from a notebook, a CLI or a Celery worker.

- ``inference.audio``: waveform I/O (load, resample, normalise, pad/trim, save).
- ``inference.mel``: the two mel formats (HiFi-GAN's and RegNet/SpecVQGAN's VAS format) as torch modules.
- ``inference.video``: ffmpeg I/O (probe, read frames, extract audio, mux, write).
- ``inference.data``: video features, the SynthVAS generator, VAS and raw-video importers.
"""
