"""Who may see researcher pages: staff, or members of the `researchers` group. Raters never log in
(they arrive through signed invite links or MTurk), so no rater account can reach these pages."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required, user_passes_test

RESEARCHERS_GROUP = "researchers"


def is_researcher(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.groups.filter(name=RESEARCHERS_GROUP).exists()


def researcher_required(view: Callable) -> Callable:
    return login_required(user_passes_test(is_researcher, login_url="login")(view))
