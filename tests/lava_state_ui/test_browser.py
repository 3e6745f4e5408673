"""The page in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by Selenium. One browser for the module; each test a fresh realm and server.

Skipped, with the reason, when Chromium or its driver is not installed (.ci/run
installs them where apt-get can).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lava_state.model import SECRET_MASK
from lava_state_local import LocalAws
from lava_state_ui import UiServer
from publisher import StatePublisher
from tests.conftest import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "no Chromium: install Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver; .ci/run does when it can)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed: pip install -e '.[dev]'"
)
from selenium.webdriver.common.by import By  # noqa: E402

XSS_ID = '<img src=x onerror="document.body.dataset.pwned=1">'
#: Generous: the browser and the embedded AWS share 2 cores with the rest of the suite.
DEADLINE_S = 10.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_script_timeout(DEADLINE_S)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: Any, ui: UiServer) -> None:
    """Load the page and wait until its table is filled and its live feed is on."""
    browser.get(ui.url)
    assert wait_until(
        lambda: (
            browser.execute_script(
                "return document.body.dataset.loaded === 'true' && document.body.dataset.live"
            )
            == "true"
        ),
        timeout=DEADLINE_S,
    ), browser.find_element(By.ID, "live").text


def _ids(browser: Any) -> list[str]:
    return list(
        browser.execute_script(
            "return [...document.querySelectorAll('#items tbody tr')].map(tr => tr.dataset.id)"
        )
    )


def test_the_table_lists_what_was_put(
    browser: Any, ui: UiServer, publisher: StatePublisher, realm: str
) -> None:
    publisher.put("jobs/extract", {"rows": 10}, publisher="extract-job")
    publisher.put("jobs/load", {"rows": 9})
    publisher.put("feature-flag", "on", type="raw")

    _open(browser, ui)

    assert _ids(browser) == ["feature-flag", "jobs/extract", "jobs/load"]
    cells = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "tbody tr td")]
    assert cells[6:10] == ["jobs/extract", "json", "1", "extract-job"]
    assert cells[11] in ("6d 23h", "7d 0h")  # counting down from the default 7 days
    assert browser.find_element(By.ID, "realm").text == realm


def test_the_prefix_filter_narrows_as_you_type(
    browser: Any, ui: UiServer, publisher: StatePublisher
) -> None:
    for state_id in ("jobs/a", "jobs/b", "jobsx", "other"):
        publisher.put(state_id, 1)
    _open(browser, ui)
    box = browser.find_element(By.ID, "filter")

    box.send_keys("jobs")
    assert wait_until(lambda: _ids(browser) == ["jobs/a", "jobs/b", "jobsx"])
    box.send_keys("/")
    assert wait_until(lambda: _ids(browser) == ["jobs/a", "jobs/b"])
    box.clear()
    box.send_keys("zzz")
    assert wait_until(lambda: _ids(browser) == [])
    assert browser.find_element(By.ID, "empty").is_displayed()


def test_sorting_by_a_column(browser: Any, ui: UiServer, publisher: StatePublisher) -> None:
    publisher.put("a", 1)
    publisher.put("b", 1)
    publisher.put("b", 2)
    _open(browser, ui)

    browser.find_element(By.CSS_SELECTOR, "th[data-key=version]").click()
    assert wait_until(lambda: _ids(browser) == ["a", "b"])
    browser.find_element(By.CSS_SELECTOR, "th[data-key=version]").click()
    assert wait_until(lambda: _ids(browser) == ["b", "a"])


def test_a_put_while_the_page_is_open_appears_highlighted(
    browser: Any, ui: UiServer, publisher: StatePublisher
) -> None:
    publisher.put("before", 1)
    _open(browser, ui)

    put_at = time.time()
    publisher.put("arrived", {"n": 1}, publisher="live-job")

    row = "#items tr[data-id='arrived']"
    assert wait_until(
        lambda: browser.execute_script(
            f"const tr = document.querySelector({row!r}); return tr && tr.dataset.highlightedAt"
        ),
        timeout=DEADLINE_S,
    )
    shown_at = float(
        browser.execute_script(f"return document.querySelector({row!r}).dataset.highlightedAt")
    )
    # Measured, not asserted (the machine may be loaded): bench/bench_ui.py reports it.
    print(f"put -> row highlighted: {shown_at / 1000 - put_at:.3f} s")
    assert "flash" in browser.find_element(By.CSS_SELECTOR, row).get_attribute("class")
    assert _ids(browser) == ["arrived", "before"]
    assert "live-job" in browser.find_element(By.CSS_SELECTOR, row).text
    first_change = browser.find_element(By.CSS_SELECTOR, "#changes li").text
    assert "put" in first_change
    assert "arrived" in first_change


def test_a_secure_value_shows_masked(browser: Any, ui: UiServer, publisher: StatePublisher) -> None:
    publisher.put("db-password", "hunter2-secret", type="secure")
    publisher.put("settings", {"retries": 3})
    _open(browser, ui)

    browser.find_element(By.CSS_SELECTOR, "tr[data-id='db-password'] button.id").click()
    value = browser.find_element(By.ID, "detail-value")
    assert wait_until(lambda: value.text == SECRET_MASK)
    assert browser.find_element(By.ID, "detail-masked").is_displayed()
    assert "hunter2" not in browser.page_source

    browser.find_element(By.CSS_SELECTOR, "tr[data-id='settings'] button.id").click()
    assert wait_until(lambda: '"retries": 3' in value.text)
    assert not browser.find_element(By.ID, "detail-masked").is_displayed()


def test_an_id_with_markup_renders_as_text(
    browser: Any, ui: UiServer, publisher: StatePublisher
) -> None:
    publisher.put(XSS_ID, "<b>bold?</b>", type="raw")
    _open(browser, ui)

    button = browser.find_element(By.CSS_SELECTOR, "#items tbody button.id")
    assert button.text == XSS_ID
    assert browser.find_elements(By.CSS_SELECTOR, "#items img, #detail img, b") == []
    button.click()
    assert wait_until(lambda: browser.find_element(By.ID, "detail-value").text == "<b>bold?</b>")
    assert browser.find_element(By.ID, "detail-id").text == XSS_ID
    assert browser.execute_script("return document.body.dataset.pwned") is None


def test_an_expired_item_leaves_the_table(
    browser: Any, local_aws: LocalAws, ui: UiServer, publisher: StatePublisher
) -> None:
    publisher.put("stays", 1)
    expiring = publisher.put("short-lived", 1, ttl=4)
    assert expiring.ttl is not None
    _open(browser, ui)
    assert "short-lived" in _ids(browser)
    countdown = browser.find_element(By.CSS_SELECTOR, "tr[data-id='short-lived'] td.expires")
    assert countdown.text.endswith("s")

    assert wait_until(lambda: _ids(browser) == ["stays"], timeout=DEADLINE_S + 4)
    # It left at its expiry (the page's own clock), not later.
    assert time.time() < expiring.ttl + DEADLINE_S
