"""A real server process: 50 concurrent clients under a mixed load, and the search page in
headless Chromium."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

ARTIFACTS = Path(os.environ.get("RADLITE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
QUERIES = [
    ("filling defect pulmonary artery", "pe"),
    ("odontoid fracture c-spine", "cspine"),
    ("target sign child bowel telescoping", "intus"),
    ("spiculated mass BI-RADS 4", "birads"),
    ("periventricular FLAIR lesions Dawson fingers", "ms"),
]


def test_fifty_concurrent_clients_with_searches_adds_and_deletes(tiny_index, tmp_path, live_server):
    from radlite.index import SearchIndex
    from radlite.search.engine import RadLITESearch

    root = tmp_path / "idx"
    shutil.copytree(tiny_index, root)
    duration, clients = float(os.environ.get("RADLITE_LOAD_SECONDS", 20)), 50
    statuses, failures, wrong = [], [], []
    alive, deleted = set(), set()
    lock = threading.Lock()
    with live_server(root, "--allow-writes", "--workers", "2") as base:
        deadline = time.time() + duration

        def client(n: int):
            rng = random.Random(n)
            mine, count = [], 0
            with httpx.Client(base_url=base, timeout=120) as http:
                while time.time() < deadline:
                    r = rng.random()
                    try:
                        if r < 0.8 or (r >= 0.9 and not mine):
                            # BM25 alone has a known right answer with the tiny (random) models; the
                            # full pipeline is checked against the saved index after the load
                            query, want = rng.choice(QUERIES)
                            lexical = rng.random() < 0.5
                            body = {"query": query, "top_k": 3, "candidates": 10}
                            resp = http.post("/search", json={**body, "signals": ["bm25"]} if lexical else body)
                            if lexical and resp.status_code == 200 and resp.json()["results"][0]["id"] != want:
                                wrong.append((query, resp.json()["results"][0]["id"]))
                        elif r < 0.9:
                            doc_id = f"load-{n}-{count}"
                            count += 1
                            resp = http.post(
                                "/documents",
                                json={
                                    "documents": [
                                        {
                                            "id": doc_id,
                                            "text": f"load test note {doc_id} about renal cortical cysts",
                                            "category": "gu",
                                        }
                                    ]
                                },
                            )
                            if resp.status_code == 201:
                                mine.append(doc_id)
                                with lock:
                                    alive.add(doc_id)
                        else:
                            doc_id = mine.pop(rng.randrange(len(mine)))
                            resp = http.delete(f"/documents/{doc_id}")
                            if resp.status_code == 200:
                                with lock:
                                    alive.discard(doc_id)
                                    deleted.add(doc_id)
                        statuses.append(resp.status_code)
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert not failures, failures[:3]
        assert statuses and all(s < 500 for s in statuses), sorted(set(statuses))
        assert set(statuses) <= {200, 201}, sorted(set(statuses))
        assert not wrong, wrong[:3]
        assert statuses.count(201) >= 5 and len(deleted) >= 1  # the mix really wrote
        with httpx.Client(base_url=base, timeout=60) as http:
            for doc_id in alive:
                assert http.get(f"/documents/{doc_id}").status_code == 200, doc_id
            for doc_id in deleted:
                assert http.get(f"/documents/{doc_id}").status_code == 404, doc_id
            assert http.get("/info").json()["documents"] == 5 + len(alive)
            served = {q: http.post("/search", json={"query": q, "top_k": 5}).json()["results"] for q, _ in QUERIES}
            lexical = {
                q: http.post("/search", json={"query": q, "top_k": 1, "signals": ["bm25"]}).json()["results"]
                for q, _ in QUERIES
            }
    on_disk = {d.id for d in SearchIndex.load(root).documents}
    assert on_disk == {"pe", "intus", "ms", "birads", "cspine"} | alive
    fresh = RadLITESearch.load(root)  # what a new process reads from disk: the same answers as the server's
    for query, want in QUERIES:
        assert lexical[query][0]["id"] == want
        local = fresh.search(query, top_k=5)
        assert [r["id"] for r in served[query]] == [r["id"] for r in local]
        assert np.allclose([r["score"] for r in served[query]], [r["score"] for r in local], atol=1e-5)


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        message = "needs Debian's chromium and chromium-driver (make test installs them)"
        if os.environ.get("RADLITE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager look for a driver online
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1000",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))


def test_search_page_shows_the_expected_first_result_and_why_it_matched(tiny_index, live_server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        with live_server(tiny_index) as base:
            browser.get(base + "/")
            wait = WebDriverWait(browser, 60)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#weights input"))  # /info loaded
            assert len(browser.find_elements(By.CSS_SELECTOR, "#weights input")) == 4
            assert not browser.find_element(By.ID, "category-label").get_attribute("hidden")
            browser.find_element(By.ID, "query").send_keys("filling defect pulmonary artery", Keys.ENTER)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.result"))
            first = browser.find_elements(By.CSS_SELECTOR, "#results li.result")[0]
            assert first.get_attribute("data-id") == "pe" and "Pulmonary embolism" in first.text
            # a bar per signal, and one for the pseudo-relevance feedback (the first result is most like itself)
            assert len(first.find_elements(By.CSS_SELECTOR, ".bar")) == 5
            assert first.find_elements(By.CSS_SELECTOR, ".bar-prf")
            first.find_element(By.CSS_SELECTOR, "button.why").click()
            wait.until(lambda d: first.find_elements(By.CSS_SELECTOR, ".explanation .explained .hl-colbert"))
            colbert = first.find_elements(By.CSS_SELECTOR, ".explanation .explained .hl-colbert")
            assert all("query token" in e.get_attribute("title") for e in colbert)
            bm25 = "".join(
                e.text.lower() for e in first.find_elements(By.CSS_SELECTOR, ".explanation .explained .hl-bm25")
            )
            assert all(word in bm25 for word in ("filling", "defect", "pulmonary", "artery")), bm25
            ActionChains(browser).move_to_element(colbert[0]).perform()  # hover shows the query token
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "search-page.png"
            browser.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            # filter by subspecialty: only that category's documents
            browser.find_element(By.CSS_SELECTOR, "#category option[value='neuro']").click()
            browser.find_element(By.ID, "search-button").click()
            ids = "return [...document.querySelectorAll('#results li.result')].map(e => e.dataset.id)"
            wait.until(lambda d: d.execute_script(ids) == ["ms"])
    finally:
        browser.quit()


def test_marks_made_on_the_page_tune_the_fusion_for_the_better(
    sample_tiny_index, sample_queries, tmp_path, live_server
):
    """Mark each sample query's answer on the page (and the wrong first result), tune from the marks, reload:
    the answers rank higher on the marked queries."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    from typer.testing import CliRunner

    from radlite.cli import app
    from tests.conftest import MISFIT_WEIGHTS, set_fusion

    root = tmp_path / "idx"
    shutil.copytree(sample_tiny_index, root)
    set_fusion(root, weights=dict(MISFIT_WEIGHTS))
    ids = "return [...document.querySelectorAll('#results li.result')].map(e => e.dataset.id)"

    def ranks(browser, wait) -> list[int]:
        out = []
        for q in sample_queries:
            box = browser.find_element(By.ID, "query")
            box.clear()
            box.send_keys(q["text"], Keys.ENTER)
            wait.until(lambda d, q=q: d.find_element(By.ID, "results").get_attribute("data-query") == q["text"])
            shown = browser.execute_script(ids)
            out.append(shown.index(q["relevant"][0]) + 1 if q["relevant"][0] in shown else 51)
        return out

    browser = _browser()
    try:
        with live_server(root) as base:
            browser.get(base + "/")
            wait = WebDriverWait(browser, 60)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#weights input"))
            top_k = browser.find_element(By.ID, "top-k")
            top_k.clear()
            top_k.send_keys("50")
            before = []
            for q in sample_queries:
                box = browser.find_element(By.ID, "query")
                box.clear()
                box.send_keys(q["text"], Keys.ENTER)
                answer = f"#results li.result[data-id='{q['relevant'][0]}']"
                wait.until(lambda d, q=q: d.find_element(By.ID, "results").get_attribute("data-query") == q["text"])
                shown = browser.execute_script(ids)
                before.append(shown.index(q["relevant"][0]) + 1)
                item = browser.find_element(By.CSS_SELECTOR, answer)
                item.find_element(By.CSS_SELECTOR, "button.mark[data-relevant='true']").click()
                wait.until(lambda d, e=item: e.find_element(By.CSS_SELECTOR, ".mark-status").text == "saved")
                if shown[0] != q["relevant"][0]:
                    first = browser.find_elements(By.CSS_SELECTOR, "#results li.result")[0]
                    first.find_element(By.CSS_SELECTOR, "button.mark[data-relevant='false']").click()
                    wait.until(lambda d, e=first: e.find_element(By.CSS_SELECTOR, ".mark-status").text == "saved")
            assert browser.find_element(By.CSS_SELECTOR, "button.mark[aria-pressed='true']")
            tuned = CliRunner().invoke(app, ["tune", str(root), "--feedback"])
            assert tuned.exit_code == 0 and "saved:" in tuned.output, tuned.output
            browser.get(base + "/")  # the page reads the new fusion's weights
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#weights input"))
            wait.until(lambda d: "fitted by radlite tune --feedback" in d.find_element(By.ID, "info").text)
            top_k = browser.find_element(By.ID, "top-k")
            top_k.clear()
            top_k.send_keys("50")
            after = ranks(browser, wait)
            browser.save_screenshot(str(ARTIFACTS / "feedback-page.png"))
    finally:
        browser.quit()
    assert sum(1 / r for r in after) > sum(1 / r for r in before) + 1, (before, after)
    assert sum(a < b for a, b in zip(after, before)) > sum(a > b for a, b in zip(after, before)), (before, after)
