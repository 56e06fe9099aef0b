"""A researcher logs in through the real login page in Chromium and reaches the dashboard."""

from __future__ import annotations

import pytest

from registry.models import Dataset
from tests.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_researcher_logs_in_in_chromium_and_sees_the_dashboard(live_server, researcher, tmp_path):
    Dataset.objects.create(name="synthvas-demo", source=Dataset.Source.SYNTHVAS, root="datasets/demo")
    with chromium_page(viewport={"width": 1100, "height": 800}) as page:
        page.goto(f"{live_server.url}/")
        assert "/accounts/login/" in page.url, "anonymous visitors are sent to the login page"
        page.fill("#id_username", "alice")
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
        assert page.locator("[role=alert]").is_visible(), "a wrong password is reported"
        page.fill("#id_username", "alice")
        page.fill("#id_password", "a-long-test-password-1")
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Dashboard')")
        assert page.locator("text=synthvas-demo").is_visible()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.click("text=Log out alice")
        page.wait_for_url("**/accounts/login/")
