"""The operator console in a real headless Chromium over the real stack (gateway, worker, beat, sandboxes).

An operator signs in, finds the webhooks an order batch caused, opens one, replays the filtered set after the
dry-run count, watches batch and inbox settle, and signs out; forged POSTs are refused. Screenshots go to
``var/test-artifacts/console/``.

Chromium and its driver come from Debian (``chromium``, ``chromium-driver``); the run installs them when it
runs as root (as CI does; ``tests/debian_packages.py``) and the browser test skips with the reason otherwise.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from devstack.demo import DemoTarget, seed, start_command, wait_batch
from devstack.stack import Stack
from tests import debian_packages
from tests.e2e.support import settle, wait_for

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = stack_starter(tmp_path_factory.mktemp("stack-console"), database_url=None, redis_index=1,
                            extra_env={"GATEWAY_COMMAND_WAIT_S": "20", "LOG_LEVEL": "DEBUG"})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    debian_packages.require("chromium", "chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def follow(driver: object, element: Any) -> None:
    """Click a link or submit button and wait until the next page replaced this one (a click returns before
    the navigation it starts has finished)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    # Asked about the old page's element mid-navigation, Chromium may answer "Node with given id does not
    # belong to the document" instead of a stale element: that is asked again, until the element is stale.
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(element))


def shot(driver: object, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


# Longer than the suite's 300 s: on a fresh CI machine the browser fixture may wait for Chromium's install.
@pytest.mark.timeout(1200)
@pytest.mark.debian_packages("chromium", "chromedriver")
def test_operator_signs_in_filters_replays_and_signs_out(stack: Stack, browser: object, billecta: BillectaClient,
                                                         lime: LimeClient) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    console = f"{stack.gateway_url}{stack.config.prefix}/console"
    target = DemoTarget(gateway_url=stack.gateway_url, billecta_url=stack.billecta_url, lime_url=stack.lime_url)
    demo = seed(target, billecta, lime, orders=1)
    batch_id = start_command(target, [demo.order_id], title="Console <check> batch")
    assert wait_batch(target, batch_id)["status"] == "ok"
    settle(stack)

    driver.get(f"{console}/inbox")  # type: ignore[attr-defined]
    assert "/console/login" in driver.current_url  # type: ignore[attr-defined]
    driver.find_element(By.ID, "api_key").send_keys("not-an-operator-key")  # type: ignore[attr-defined]
    follow(driver, driver.find_element(By.ID, "sign-in"))  # type: ignore[attr-defined]
    assert "That is not an operator key." in driver.page_source  # type: ignore[attr-defined]
    driver.find_element(By.ID, "api_key").send_keys(stack.config.operator_key)  # type: ignore[attr-defined]
    follow(driver, driver.find_element(By.ID, "sign-in"))  # type: ignore[attr-defined]
    assert driver.current_url.endswith("/console/inbox")  # type: ignore[attr-defined]  # back where it began
    cookie = driver.get_cookie("billecta_console")  # type: ignore[attr-defined]
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # Filter: the Billecta events of the batch's invoices.
    Select(driver.find_element(By.ID, "f-source")).select_by_value("billecta")  # type: ignore[attr-defined]
    Select(driver.find_element(By.ID, "f-status")).select_by_value("processed")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "f-event-type").send_keys("InvoiceActionAttested")  # type: ignore[attr-defined]
    follow(driver, driver.find_element(By.ID, "filter"))  # type: ignore[attr-defined]
    links = driver.find_elements(By.CSS_SELECTOR, "a.inbox-link")  # type: ignore[attr-defined]
    assert len(links) >= 1
    rows = driver.find_elements(By.CSS_SELECTOR, "#inbox tr")[1:]  # type: ignore[attr-defined]
    assert all("InvoiceActionAttested" in row.text and "processed" in row.text for row in rows)
    shot(driver, "01-inbox-filtered")
    filtered = len(links)

    follow(driver, links[0])
    body = driver.find_element(By.ID, "body").text  # type: ignore[attr-defined]
    assert "InvoiceActionAttested" in body
    assert stack.config.webhook_key not in driver.page_source  # type: ignore[attr-defined]  # headers redacted
    shot(driver, "02-inbox-row")
    driver.back()  # type: ignore[attr-defined]

    follow(driver, driver.find_element(By.ID, "replay"))  # type: ignore[attr-defined]
    count = driver.find_element(By.ID, "dry-run-count").text  # type: ignore[attr-defined]
    assert count.startswith(f"{filtered} row")
    shot(driver, "03-replay-dry-run")
    follow(driver, driver.find_element(By.ID, "confirm-replay"))  # type: ignore[attr-defined]
    assert "/console/audit" in driver.current_url  # type: ignore[attr-defined]
    assert f"Replayed {filtered} rows" in driver.page_source  # type: ignore[attr-defined]
    assert "operator key sha256:" in driver.find_element(By.ID, "audit").text  # type: ignore[attr-defined]
    shot(driver, "04-audit")

    # The replayed rows go through the worker again and end processed (handlers re-read Billecta).
    counts = settle(stack)
    assert counts.get("dead", 0) == 0
    driver.get(f"{console}/inbox?source=billecta&status=processed&event_type=InvoiceActionAttested")  # type: ignore[attr-defined]
    assert len(driver.find_elements(By.CSS_SELECTOR, "a.inbox-link")) == filtered  # type: ignore[attr-defined]

    driver.get(f"{console}/batches/{batch_id}")  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "batch-status").text == "ok"  # type: ignore[attr-defined]
    assert "Console <check> batch" in driver.page_source.replace("&lt;", "<").replace("&gt;", ">")  # type: ignore[attr-defined]
    shot(driver, "05-batch")
    driver.get(f"{console}/health")  # type: ignore[attr-defined]
    assert "webhooks" in driver.find_element(By.ID, "queues").text  # type: ignore[attr-defined]
    shot(driver, "06-health")

    follow(driver, driver.find_element(By.ID, "logout"))  # type: ignore[attr-defined]
    assert "/console/login" in driver.current_url  # type: ignore[attr-defined]
    driver.get(f"{console}/inbox")  # type: ignore[attr-defined]
    assert "/console/login" in driver.current_url  # type: ignore[attr-defined]


def test_posts_without_session_or_csrf_token_are_refused(stack: Stack) -> None:
    console = f"{stack.gateway_url}{stack.config.prefix}/console"
    # No session at all.
    assert requests.post(f"{console}/inbox/replay", data={"status": "dead", "csrf_token": "x"},
                         timeout=10).status_code == 400
    # A signed-in session, but a POST without (or with a wrong) token.
    session = requests.Session()
    page = session.get(f"{console}/login", timeout=10).text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert session.post(f"{console}/login", data={"api_key": stack.config.operator_key}, timeout=10,
                        allow_redirects=False).status_code == 400
    signed_in = session.post(f"{console}/login", data={"api_key": stack.config.operator_key, "csrf_token": token},
                             timeout=10, allow_redirects=False)
    assert signed_in.status_code == 302
    assert session.post(f"{console}/inbox/replay", data={"status": "dead"}, timeout=10).status_code == 400
    assert session.post(f"{console}/inbox/replay", data={"status": "dead", "csrf_token": token + "x"},
                        timeout=10).status_code == 400
    # Without a session the pages redirect to the login form.
    assert requests.get(f"{console}/inbox", timeout=10, allow_redirects=False).status_code == 302


def worker_lines(stack: Stack, correlation_id: str) -> list[dict[str, object]]:
    found = []
    for line in (stack.config.var_dir / "logs" / "worker.log").read_text(encoding="utf-8").splitlines():
        if correlation_id in line and line.startswith("{"):
            record = json.loads(line)
            if record.get("correlation_id") == correlation_id:
                found.append(record)
    return found


def test_one_correlation_id_runs_from_the_webhook_to_the_billecta_and_lime_request_lines(
        stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
    target = DemoTarget(gateway_url=stack.gateway_url, billecta_url=stack.billecta_url, lime_url=stack.lime_url)
    demo = seed(target, billecta, lime, orders=1)
    assert wait_batch(target, start_command(target, [demo.order_id]))["status"] == "ok"
    settle(stack)
    operator = {"X-API-Key": stack.config.operator_key}
    base = f"{stack.gateway_url}{stack.config.prefix}"
    rows = requests.get(f"{base}/operator/inbox", params={"source": "billecta"}, headers=operator, timeout=10).json()
    attested = next(r for r in rows["items"] if r["event_type"] == "InvoiceActionAttested")
    body = json.loads(requests.get(f"{base}/operator/inbox/{attested['id']}", headers=operator, timeout=10)
                      .json()["body"])
    correlation_id = f"e2e-{uuid.uuid4().hex[:12]}"
    # The same event again as a new delivery (a new EventId, so it is not a duplicate): the handler re-reads
    # the invoice from Billecta and writes Lime.
    resp = requests.post(f"{base}/billecta-webhook-receiver", json={**body, "EventId": str(uuid.uuid4())},
                         headers={"X-API-Key": stack.config.webhook_key, "X-Request-ID": correlation_id}, timeout=10)
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == correlation_id
    settle(stack)
    detail = requests.get(f"{base}/operator/inbox/{resp.json()['inbox_id']}", headers=operator, timeout=10).json()
    assert detail["status"] == "processed"

    def traced() -> list[dict[str, object]] | None:
        lines = worker_lines(stack, correlation_id)
        events = " ".join(str(line.get("event")) for line in lines)
        return lines if "billecta GET" in events and "lime " in events else None

    lines = wait_for(traced, f"worker lines with correlation id {correlation_id}", 30)
    assert all(str(line.get("task")).endswith("process_billecta_webhook") for line in lines
               if str(line.get("event", "")).startswith(("billecta ", "lime ")))
    assert any(line.get("inbox_id") == resp.json()["inbox_id"] for line in lines)
    log_text = "".join((stack.config.var_dir / "logs" / f"{name}.log").read_text(encoding="utf-8")
                       for name in ("worker", "gateway"))
    for secret in (stack.config.webhook_key, stack.config.lime_key, stack.config.billecta_auth,
                   stack.config.billecta_auth.split()[1]):
        assert secret not in log_text


def test_flower_sees_every_task_a_worker_runs(stack: Stack) -> None:
    """Flower reads the workers' task events; they are sent in batches (workers.consumer), never dropped."""
    from celery import Celery

    app = Celery(broker=stack.redis_url)
    seen: list[dict[str, Any]] = []
    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": seen.append})
        listening = threading.Thread(target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False),
                                     daemon=True)
        listening.start()
        try:
            time.sleep(1)  # subscribed before the tasks run
            inbox_ids = []
            for _ in range(3):  # a debtor Lime does not know: the task finds nothing to do, and succeeds
                body = {"WebhookTriggerType": "DebtorUpdated", "CreditorPublicId": str(uuid.uuid4()),
                        "DebtorPublicId": str(uuid.uuid4()), "EventId": str(uuid.uuid4())}
                resp = requests.post(f"{stack.gateway_url}{stack.config.prefix}/billecta-webhook-receiver",
                                     json=body, headers={"X-API-Key": stack.config.webhook_key}, timeout=10)
                assert resp.status_code == 200
                inbox_ids.append(resp.json()["inbox_id"])

            def lifecycles() -> dict[str, set[str]] | None:
                tasks = {e["uuid"]: e.get("args", "") for e in list(seen) if e.get("type") == "task-received"}
                ours = {uuid_: set() for uuid_, args in tasks.items()
                        if any(args == f"[{inbox_id}]" for inbox_id in inbox_ids)}
                for e in list(seen):
                    if e.get("uuid") in ours:
                        ours[e["uuid"]].add(e["type"])
                done = {"task-received", "task-started", "task-succeeded"}
                return ours if len(ours) == 3 and all(types >= done for types in ours.values()) else None

            assert wait_for(lifecycles, "received, started and succeeded events of the three tasks", 30)
        finally:
            receiver.should_stop = True
            listening.join(timeout=5)


def test_gateway_and_worker_metrics_are_scraped_across_processes(stack: Stack) -> None:
    gateway = requests.get(f"{stack.gateway_url}/metrics",
                           headers={"Authorization": f"Bearer {stack.config.operator_key}"}, timeout=10)
    assert gateway.status_code == 200
    assert "billecta_sync_webhooks_received_total" in gateway.text and "billecta_sync_inbox_rows" in gateway.text
    worker = requests.get(f"http://127.0.0.1:{stack.config.ports.worker_metrics}/metrics", timeout=10)
    assert worker.status_code == 200
    # Counted in the worker's pool processes, served by its main process: multiprocess mode works.
    ok = [line for line in worker.text.splitlines()
          if line.startswith("billecta_sync_tasks_total{") and 'outcome="ok"' in line]
    assert ok and sum(float(line.rsplit(" ", 1)[1]) for line in ok) > 0
    assert "billecta_sync_outbound_requests_total" in worker.text
