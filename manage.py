#!/usr/bin/env python
"""Django's command-line utility. Puts platform/ on sys.path (it is a folder, not a package: a package
named `platform` would hide the standard library's module of that name and break `import uuid`)."""

import os
import sys
from pathlib import Path


def main() -> None:
    root = Path(__file__).resolve().parent
    sys.path.insert(0, str(root / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
