"""Exchanging work with systems trained outside the platform.

- ``pack``: a run's inputs written as a self-contained folder or .tar.gz (videos, features, reference
  audio and mels, a manifest and a README that says what to produce);
- ``archive``: safe unpacking of what comes back (a folder, .zip or .tar[.gz]): no path leaves the
  destination, no link or device is created, and nothing inflates past its limits;
- ``outputs``: validation of a system's outputs against the pack's pairs, one report line per file.

No Django and no torch: the web process uses ``pack`` and ``archive``; workers run ``outputs``.
"""
