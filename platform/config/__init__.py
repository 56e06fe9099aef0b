"""The site's configuration package.

platform/ is a folder on sys.path, not a package. manage.py and pytest put it there before importing
this; `celery --workdir platform -A config` finds this package through the working directory but
takes that directory off sys.path again after the import, and gunicorn's --chdir does not touch the
path at all. So the path is settled here, once, for every entry point: platform/ for the Django apps
(`config`, `registry`) and the checkout root for `studies` and `inference`.
"""

import sys
from pathlib import Path

_PLATFORM = Path(__file__).resolve().parent.parent
for _entry in (str(_PLATFORM), str(_PLATFORM.parent)):
    if _entry not in sys.path:
        sys.path.append(_entry)

from config.celery import app as celery_app  # noqa: E402  (shared_task binds to this app)

__all__ = ["celery_app"]
