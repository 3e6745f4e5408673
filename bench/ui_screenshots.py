"""The web view's screenshots in docs/ (docs/ui.png, docs/ui-secure.png), taken with
headless Chromium on an embedded stack with a realistic realm.

    .venv/bin/python bench/ui_screenshots.py

Needs Debian's chromium and chromium-driver, and selenium (the dev extra).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from bench_ui import chrome, wait

from consumer_sdk import StateClient
from lava_state_local import LocalAws
from lava_state_ui import UiServer
from publisher import StatePublisher
from stream_processor.handler import logger

REALM = "prod"
DOCS = Path(__file__).resolve().parent.parent / "docs"

#: id -> (value, type, ttl, publisher)
REALM_ITEMS: dict[str, tuple[Any, str, str, str]] = {
    "jobs/billing/invoice-export/last-run": (
        {"rows": 18234, "status": "ok", "file": "s3://billing/exports/2026-11-30.csv"},
        "json",
        "7d",
        "billing-invoice-export",
    ),
    "jobs/billing/invoice-export/watermark": ("2026-11-30T23:59:59Z", "raw", "30d", "billing"),
    "jobs/ingest/s3-landing/cursor": (
        {"prefix": "landing/2026/12/01/", "after": "part-00417.parquet"},
        "json",
        "3h",
        "ingest-s3-landing",
    ),
    "jobs/reports/daily-sales/ready": (True, "json", "20h", "reports-daily-sales"),
    "jobs/reports/weekly-kpis/ready": (False, "json", "6d", "reports-weekly-kpis"),
    "ml/churn-model/current": (
        {"model": "churn-v14", "auc": 0.913, "trained": "2026-11-29"},
        "json",
        "30d",
        "ml-train-churn",
    ),
    "flags/new-pricing": ("on", "raw", "2w", "platform-team"),
    "flags/legacy-export": ("off", "raw", "2w", "platform-team"),
    "locks/nightly-batch": ({"holder": "worker-3", "since": "01:12Z"}, "json", "50s", "scheduler"),
    "secrets/warehouse/password": ("correct-horse-battery", "secure", "1d", "vault-sync"),
    "secrets/partner-a/api-key": ("pa-7f3e9c1d", "secure", "1d", "vault-sync"),
    "feeds/partner-a/last-file": ("partner-a/2026-12-01T01.json", "raw", "12h", "feed-partner-a"),
}


def main() -> None:
    logger.setLevel(logging.WARNING)
    with LocalAws() as aws:
        aws.provision_realm(REALM)
        options = {"session": aws.session(), "endpoint_url": aws.endpoint_url}
        publisher = StatePublisher(REALM, **options)
        for state_id, (value, state_type, ttl, by) in REALM_ITEMS.items():
            publisher.put(state_id, value, type=state_type, ttl=ttl, publisher=by)
        with UiServer(StateClient(REALM, **options), port=0) as ui:
            wait(lambda: ui.feed.live, "the view's subscription", timeout=60)
            aws.start_stream_runner(REALM)
            browser = chrome(1400, 760)
            try:
                browser.get(ui.url)
                wait(lambda: browser.execute_script("return document.body.dataset.live"), "live")
                # Changes while the page is open: the live panel and a highlighted row.
                publisher.put(
                    "jobs/reports/daily-sales/ready", True, ttl="20h", publisher="reports-daily"
                )
                publisher.put(
                    "jobs/ingest/s3-landing/cursor",
                    {"prefix": "landing/2026/12/01/", "after": "part-00418.parquet"},
                    ttl="3h",
                    publisher="ingest-s3-landing",
                )
                row = "#items tr[data-id='jobs/ingest/s3-landing/cursor']"
                wait(
                    lambda: browser.execute_script(
                        f"return document.querySelector({row!r}).dataset.highlightedAt"
                    ),
                    "the highlight",
                )
                browser.find_element("css selector", f"{row} button.id").click()
                wait(
                    lambda: "part-00418" in browser.find_element("id", "detail-value").text,
                    "the detail",
                )
                time.sleep(0.3)  # the highlight's fade has begun: as a person sees it
                browser.save_screenshot(str(DOCS / "ui.png"))
                secure = "#items tr[data-id='secrets/warehouse/password'] button.id"
                browser.find_element("css selector", secure).click()
                wait(lambda: browser.find_element("id", "detail-masked").is_displayed(), "the mask")
                browser.save_screenshot(str(DOCS / "ui-secure.png"))
            finally:
                browser.quit()
    print(f"wrote {DOCS / 'ui.png'} and {DOCS / 'ui-secure.png'}")


if __name__ == "__main__":
    main()
