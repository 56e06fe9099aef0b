"""Create (or reset) a researcher account and print its credentials.

`make demo` calls it so a fresh checkout has someone to log in as; it is also how an administrator
adds a colleague: `python manage.py create_researcher alice --email alice@lab.org`.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from registry.access import RESEARCHERS_GROUP


class Command(BaseCommand):
    help = "Create or reset a researcher account (staff, in the researchers group) and print its password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", default="researcher")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password",
            default=None,
            help="Password to set; by default a new random one is generated and printed.",
        )
        parser.add_argument("--superuser", action="store_true", help="Also make the account a superuser.")

    @transaction.atomic
    def handle(
        self, *args, username: str, email: str, password: str | None, superuser: bool, **options
    ) -> None:
        password = password or secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
        if email:
            user.email = email
        user.is_staff = True
        user.is_active = True
        user.is_superuser = user.is_superuser or superuser
        user.set_password(password)
        user.save()
        group, _ = Group.objects.get_or_create(name=RESEARCHERS_GROUP)
        # Researchers manage everything in the registry and the studies from the admin too.
        group.permissions.add(*Permission.objects.filter(content_type__app_label__in=["registry", "studies"]))
        user.groups.add(group)
        verb = "Created" if created else "Reset the password of"
        self.stdout.write(self.style.SUCCESS(f"{verb} researcher account"))
        self.stdout.write(f"  username: {username}\n  password: {password}")
