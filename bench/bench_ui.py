"""Benchmark of the web view (issue 14): one run, one embedded stack, headless Chromium.

    .venv/bin/python bench/bench_ui.py

Needs Debian's chromium and chromium-driver (``apt-get install chromium
chromium-driver``) and selenium (the dev extra).

1. First paint with 10,000 items: the page loaded afresh (3 times); the time
   from navigation start to the first contentful paint, to the listing
   received (``performance.mark("lava-listed")``) and to the table filled with
   the 10,000 rows (``"lava-rows"``), against the baseline of fetching the
   listing alone (GET /api/items from Python: a Scan, slow on moto).
2. Change to screen: 40 puts, one after another, each of a new id; the time
   from calling ``put`` to the page highlighting its row (the page records
   when, in epoch ms), against the baseline of a subscription in this process
   yielding the same change (put, stream, runner, processor, SNS, SQS), timed
   for the same puts.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import threading
import time
import urllib.request
from typing import Any

from consumer_sdk import StateClient
from lava_state.constants import ENV_MISSING_TOPIC_TTL
from lava_state_local import LocalAws
from lava_state_local.server import processor_settings
from lava_state_ui import UiServer
from publisher import StatePublisher
from stream_processor.handler import logger

REALM = "bench"
ITEMS = 10_000
LOADS = 3
CHANGES = 40
DEADLINE_S = 30.0


def chrome(width: int = 1280, height: int = 900) -> Any:
    """Headless Chromium (Debian's) through its chromium-driver.

    Raises:
        SystemExit: chromium or chromedriver is not installed.
    """
    from selenium import webdriver

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        raise SystemExit(
            "needs chromium and chromedriver: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


def wait(predicate: Any, what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


def load_realm(publisher: StatePublisher) -> None:
    teams = ("billing", "ingest", "reports", "ml", "search")
    values: dict[str, Any] = {}
    for n in range(ITEMS):
        team = teams[n % len(teams)]
        values[f"jobs/{team}/job-{n:05d}/last-run"] = {"rows": n, "status": "ok"}
    for start in range(0, ITEMS, 1000):
        chunk = dict(list(values.items())[start : start + 1000])
        publisher.put_many(chunk, ttl="7d", publisher="bench-loader")


def bench_first_paint(browser: Any, ui: UiServer) -> dict[str, float]:
    paints, listed, filled, listing = [], [], [], []
    for _ in range(LOADS):
        start = time.perf_counter()
        with urllib.request.urlopen(ui.url + "api/items", timeout=60) as response:
            response.read()
        listing.append((time.perf_counter() - start) * 1000)
        browser.get("about:blank")
        browser.get(ui.url)
        wait(lambda: browser.execute_script("return document.body.dataset.loaded"), "the table")
        count = browser.execute_script("return document.body.dataset.count")
        assert int(count) == ITEMS, count
        paints.append(
            browser.execute_script(
                "return performance.getEntriesByName('first-contentful-paint')[0].startTime"
            )
        )
        marks = browser.execute_script(
            "return ['lava-listed', 'lava-rows'].map("
            "name => performance.getEntriesByName(name)[0].startTime)"
        )
        listed.append(marks[0])
        filled.append(marks[1])
    return {
        "fcp_ms": statistics.median(paints),
        "listed_ms": statistics.median(listed),
        "filled_ms": statistics.median(filled),
        "listing_ms": statistics.median(listing),
    }


def bench_change_to_screen(
    browser: Any, ui: UiServer, aws: LocalAws, publisher: StatePublisher
) -> dict[str, float]:
    browser.get(ui.url)
    wait(
        lambda: browser.execute_script(
            "return document.body.dataset.loaded && document.body.dataset.live === 'true'"
        ),
        "the live page",
    )
    yielded: dict[str, float] = {}
    client = StateClient(REALM, session=aws.session(), endpoint_url=aws.endpoint_url)
    subscription = client.subscribe(prefix="live/")
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for change in subscription.events(timeout=1.0):
                yielded.setdefault(change.state_id, time.time())

    consumer = threading.Thread(target=consume)
    consumer.start()
    page, direct = [], []
    try:
        for n in range(CHANGES):
            state_id = f"live/change-{n:03d}"
            put_at = time.time()
            publisher.put(state_id, {"n": n}, publisher="bench")
            selector = f"#items tr[data-id='{state_id}']"
            shown = wait(
                lambda selector=selector: browser.execute_script(
                    f"const tr = document.querySelector({selector!r});"
                    "return tr && tr.dataset.highlightedAt"
                ),
                f"{state_id} highlighted",
            )
            wait(lambda state_id=state_id: state_id in yielded, f"{state_id} yielded")
            page.append(float(shown) - put_at * 1000)
            direct.append((yielded[state_id] - put_at) * 1000)
    finally:
        stop.set()
        consumer.join()
        subscription.close()
    return {
        "page_p50_ms": statistics.median(page),
        "page_p90_ms": statistics.quantiles(page, n=10)[8],
        "direct_p50_ms": statistics.median(direct),
        "direct_p90_ms": statistics.quantiles(direct, n=10)[8],
    }


def main() -> None:
    logger.setLevel(logging.WARNING)
    with LocalAws() as aws:
        aws.provision_realm(REALM)
        publisher = StatePublisher(
            REALM, session=aws.session(), endpoint_url=aws.endpoint_url, publisher="bench"
        )
        load_realm(publisher)
        # The load's 10,000 inserts go through the processor before the view subscribes
        # (no topic yet: nothing is published; "missing" is not cached, so the view's
        # realm topic is fed as soon as it exists).
        runner = aws.start_stream_runner(
            REALM, processor=processor_settings(REALM, {ENV_MISSING_TOPIC_TTL: "0"})
        )
        wait(lambda: runner.stats.records >= ITEMS, "the stream runner", timeout=300)
        client = StateClient(REALM, session=aws.session(), endpoint_url=aws.endpoint_url)
        with UiServer(client, port=0) as ui:
            wait(lambda: ui.feed.live, "the view's subscription", timeout=120)
            browser = chrome()
            try:
                paint = bench_first_paint(browser, ui)
                latency = bench_change_to_screen(browser, ui, aws, publisher)
            finally:
                browser.quit()
    print(f"first paint, {ITEMS} items (median of {LOADS} loads)")
    print(f"  first contentful paint   {paint['fcp_ms']:8.0f} ms")
    print(f"  listing received         {paint['listed_ms']:8.0f} ms")
    print(f"  table filled             {paint['filled_ms']:8.0f} ms")
    render = paint["filled_ms"] - paint["listed_ms"]
    print(f"  of which rendering       {render:8.0f} ms")
    print(f"  GET /api/items alone     {paint['listing_ms']:8.0f} ms (baseline)")
    print(f"  ratio filled / listing   {paint['filled_ms'] / paint['listing_ms']:8.2f}")
    print(f"change to screen, {CHANGES} puts (put -> row highlighted)")
    print(
        f"  page        p50 {latency['page_p50_ms']:6.0f} ms   p90 {latency['page_p90_ms']:6.0f} ms"
    )
    print(
        f"  subscribe() p50 {latency['direct_p50_ms']:6.0f} ms   "
        f"p90 {latency['direct_p90_ms']:6.0f} ms (baseline)"
    )
    print(f"  ratio p50 page / subscribe() {latency['page_p50_ms'] / latency['direct_p50_ms']:.2f}")


if __name__ == "__main__":
    main()
