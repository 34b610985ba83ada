"""The README's picture of the explain page: `stylex serve --http-port` on the shipped model,
`/?sample=N` in headless Chromium (Debian's chromium + chromium-driver, selenium), once the
explanation is shown.

    python docs/scripts/page_screenshot.py                      # -> docs/images/explain-page.png
    python docs/scripts/page_screenshot.py --sample 5 --mode image --out page.png
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from stylex.demo import start_server_with_http, stop_server
from stylex.runtime.model_dir import default_model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--sample", type=int, default=3)
    parser.add_argument("--mode", choices=["catalog", "image"], default="image")
    parser.add_argument("--out", default="docs/images/explain-page.png")
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1100,760"):
        options.add_argument(flag)
    proc, _, http_address = start_server_with_http(args.model, quiet=True)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(f"http://{http_address}/?sample={args.sample}")
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element("id", "status").get_attribute("data-state") == "done"
        )
        driver.execute_script(
            "const e = document.getElementById('mode'); e.value = arguments[0];"
            "e.dispatchEvent(new Event('change', {bubbles: true}));", args.mode,
        )  # fmt: skip
        WebDriverWait(driver, 60).until(
            lambda d: (
                d.find_element("id", "mode_used").text == args.mode
                and d.find_element("id", "status").get_attribute("data-state") == "done"
            )
        )
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(args.out)
        print(f"wrote {args.out}")
    finally:
        driver.quit()
        stop_server(proc)


if __name__ == "__main__":
    main()
