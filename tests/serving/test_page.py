"""The explain page at `/` in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium): a sample explained on load, the controls recomputing it, and the same
answer as the gRPC service gives for the same image and options.

Without the browser the tests skip, saying what they need; `.ci/run` installs it (and in CI a
skip fails the run, tests/conftest.py)."""

from __future__ import annotations

import shutil
import urllib.request

import pytest

from stylex.serving.client import ExplainClient

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1200,900"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_server(make_server):
    return make_server(http_port=0)


def _wait_done(browser, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    def done(driver):
        state = driver.find_element("id", "status").get_attribute("data-state")
        if state == "error":
            raise AssertionError(driver.find_element("id", "status").text)
        return state == "done"

    WebDriverWait(browser, 60).until(done, what)


def _attributes(browser) -> list[str]:
    return [li.text for li in browser.find_elements("css selector", "#attributes li")]


def test_the_page_explains_a_sample_and_recomputes_on_change(browser, page_server, tmp_path):
    base = f"http://127.0.0.1:{page_server.server.http_port}"
    browser.get(base + "/?sample=3")
    _wait_done(browser, "sample 3 explained on load")
    with urllib.request.urlopen(base + "/v1/samples/3.png", timeout=30) as resp:
        sample = resp.read()
    with ExplainClient(page_server.address, timeout=30) as client:
        want = client.explain(sample, top_k=5)
        want_image = client.explain(sample, top_k=2, mode="image")

    assert browser.find_element("id", "predicted").text == want["predicted"]
    assert browser.find_element("id", "target_name").text == want["target"]
    shown = _attributes(browser)
    assert len(shown) == len(want["attributes"]) >= 1
    for text, attribute in zip(shown, want["attributes"], strict=True):
        assert text.startswith(f"{attribute['rank']}. ") and attribute["direction"] in text
    src = browser.find_element("css selector", "#attributes li img").get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    recon = browser.find_element("id", "reconstruction").get_attribute("src")
    assert recon.startswith("data:image/png;base64,")
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000

    # IMAGE mode and top-k 2: the page asks again and shows the new answer.
    browser.execute_script(
        "const set = (id, v) => { const e = document.getElementById(id); e.value = v;"
        " e.dispatchEvent(new Event('change', {bubbles: true})); };"
        "set('top_k', '2'); set('mode', 'image');"
    )
    _wait_done(browser, "recomputed with the new controls")
    assert browser.find_element("id", "mode_used").text == "image"
    shown = _attributes(browser)
    assert len(shown) == len(want_image["attributes"]) == 2
    assert [t.split(" ")[0] for t in shown] == ["1.", "2."]
    joint = browser.find_element("id", "joint_caption").text
    assert joint.startswith(f"ranks {', '.join(map(str, want_image['joint']['ranks']))}")


def test_the_page_shows_a_bad_request_as_its_error(browser, page_server):
    base = f"http://127.0.0.1:{page_server.server.http_port}"
    browser.get(base + "/?sample=99")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(
        lambda d: d.find_element("id", "status").get_attribute("data-state") == "error"
    )
    assert browser.find_element("id", "status").text.startswith("sample 99: 400")
