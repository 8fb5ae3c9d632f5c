"""The console in a real browser: Debian's headless Chromium driven by Selenium, never a downloaded one.

Logs in with a write token, opens the incident a replayed bad deploy opened, sees its plot,
acknowledges it, gives false-positive feedback and sees the calibration change; writes a
screenshot of each page to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import IN_CI, LiveServer
from console_fleet import DEPLOY_AT, replay_bad_deploy

from aiops.api.app import create_app
from aiops.config import ApiToken, Settings
from aiops.model import DeployEvent, Effects, Verdict, VerdictResult
from aiops.store import SqlStore

CHROMIUM = os.environ.get("AIOPS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AIOPS_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
WRITE = "console-writer-token-0123"
READ = "console-reader-token-0123"


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.exists(p) or shutil.which(p))]
    if missing:
        if IN_CI:
            pytest.fail(f"{', '.join(missing)} missing in CI: scripts/test installs chromium and chromium-driver")
        pytest.skip(f"{', '.join(missing)} not installed (Debian packages chromium, chromium-driver; scripts/test)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1500",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def _more_releases(store: SqlStore) -> None:
    """A few earlier releases with verdicts, so the deployments and fleet pages show a history."""
    rows = [
        ("api", "v1", -86400, VerdictResult.PASS),
        ("web", "w6", -80000, VerdictResult.PASS),
        ("cart", "c41", -50000, VerdictResult.PASS),
        ("cart", "c42", -20000, VerdictResult.INCONCLUSIVE),
        ("search", "s9", -10000, VerdictResult.PASS),
    ]
    deploys = [DeployEvent.create(s, v, DEPLOY_AT + dt, id=f"{s}-{v}") for s, v, dt, _ in rows]
    verdicts = [
        Verdict(
            d.id,
            d.service,
            r,
            90.0 if r is VerdictResult.PASS else 55.0,
            d.ts + 1800,
            reason="no metric worse" if r is VerdictResult.PASS else "too few samples",
            version=d.version,
        )
        for d, (_, _, _, r) in zip(deploys, rows, strict=True)
    ]
    store.write(Effects(deploys=deploys, verdicts=verdicts))


def shot(driver: Any, name: str) -> None:
    """The whole page, not just the viewport (Chromium's DevTools capture beyond the viewport)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, "
        "Math.ceil(document.querySelector('main').getBoundingClientRect().bottom) + 8]"
    )
    png = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 3000), "scale": 1},
        },
    )["data"]
    data = base64.b64decode(png)
    assert data.startswith(b"\x89PNG")
    (SHOTS / f"{name}.png").write_bytes(data)


def test_log_in_open_incident_acknowledge_feedback_calibration(browser: Any, sqlite_store: SqlStore) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    incident_id = replay_bad_deploy(sqlite_store)
    _more_releases(sqlite_store)
    tokens = (ApiToken("oncall", "write", WRITE), ApiToken("viewer", "read", READ))
    with LiveServer(create_app(Settings(tokens=tokens), sqlite_store)) as server:
        browser.get(f"{server.url}/ui")
        assert "/ui/login" in browser.current_url  # with tokens set, the console asks for one
        shot(browser, "login")
        browser.find_element(By.ID, "token").send_keys(WRITE)
        browser.find_element(By.ID, "login").click()
        wait = WebDriverWait(browser, 15)
        wait.until(EC.url_matches(r"/ui$"))
        open_rows = browser.find_elements(By.CSS_SELECTOR, "#section-open tbody tr")
        assert len(open_rows) == 1 and "api-v2" in open_rows[0].text and "api" in open_rows[0].text
        shot(browser, "incidents")

        open_rows[0].find_element(By.CSS_SELECTOR, "a.incident-link").click()
        wait.until(EC.url_contains(f"/ui/incidents/{incident_id}"))
        plot = browser.find_element(By.CSS_SELECTOR, "#plot svg")
        assert plot.size["width"] > 500 and plot.find_elements(By.CSS_SELECTOR, "polyline")
        assert "api v2" in browser.find_element(By.ID, "deploy").text
        assert "No calibration" in browser.find_element(By.ID, "calibration").text
        shot(browser, "incident")

        browser.find_element(By.ID, "acknowledge").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "done"), "acknowledged"))
        assert browser.find_element(By.ID, "status").text == "acknowledged"
        assert "acknowledged" in browser.find_element(By.ID, "timeline").text

        browser.find_element(By.ID, "label-fp").click()
        browser.find_element(By.ID, "note").send_keys("cache warm-up after every release")
        browser.find_element(By.ID, "send-feedback").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "done"), "feedback"))
        calibration = browser.find_element(By.ID, "calibration").text
        assert "http_request_duration_seconds_p99" in calibration and re.search(
            r"1 false positive\(s\) up to \+[4-6]\d%", calibration
        )
        assert "feedback false positive" in browser.find_element(By.ID, "timeline").text
        shot(browser, "incident-after-feedback")

        browser.find_element(By.ID, "nav-deployments").click()
        wait.until(EC.url_contains("/ui/deployments"))
        dots = browser.find_elements(By.CSS_SELECTOR, "#deploy-timeline a.verdict-fail")
        assert len(dots) == 1
        shot(browser, "deployments")

        browser.find_element(By.ID, "nav-fleet").click()
        wait.until(EC.url_contains("/ui/fleet"))
        fleet = browser.find_element(By.ID, "fleet").text
        assert "cart" in fleet and "1 open" in fleet
        shot(browser, "fleet")


def test_read_token_sees_no_buttons(browser: Any, sqlite_store: SqlStore) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    incident_id = replay_bad_deploy(sqlite_store)
    tokens = (ApiToken("viewer", "read", READ),)
    with LiveServer(create_app(Settings(tokens=tokens), sqlite_store)) as server:
        browser.get(f"{server.url}/ui/incidents/{incident_id}")
        browser.find_element(By.ID, "token").send_keys(READ)
        browser.find_element(By.ID, "login").click()
        WebDriverWait(browser, 15).until(EC.url_contains(f"/ui/incidents/{incident_id}"))  # back where it asked
        browser.implicitly_wait(0)
        assert browser.find_elements(By.ID, "acknowledge") == []
        assert "Read-only token" in browser.page_source
