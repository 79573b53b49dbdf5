"""translate demo in a real browser: headless Chromium (Debian's chromium and chromium-driver, which .ci/run
installs) driven by Selenium uploads files to the page the command serves.

The page's output for a photograph must be the pixels ``translate convert`` writes for it; a text file and
an image over --max-pixels must get their reason on the page while the server goes on serving; a test image
of the run is translated when clicked, and again when the direction changes; and neither
the server nor the page may reach past 127.0.0.1 (every connection the server process opens is audited, and
every request the page makes is read from Chromium's log).

Set TRANSLATE_DEMO_SCREENSHOT=FILE to keep a screenshot of the page (docs/demo.png is made so).
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import fresh_copy

pytestmark = pytest.mark.slow

#: The server process: every connection or name lookup past the loopback is printed with this marker.
AUDITED_LAUNCH = r'''
import ipaddress, sys

def local(host):
    if host is None or host in ("localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False

def audit(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and not local(args[1][0]):
        print(f"OUTSIDE: connect to {args[1]!r}", file=sys.stderr, flush=True)
    elif event == "socket.getaddrinfo" and not local(args[0]):
        print(f"OUTSIDE: name lookup of {args[0]!r}", file=sys.stderr, flush=True)

sys.addaudithook(audit)
from translate.cli import main
main(sys.argv[1:], prog_name="translate")
'''
#: Chromium as root on a closed network: no sandbox, GPU or shared memory; nothing fetched in the background.
CHROMIUM_ARGUMENTS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      "--no-first-run", "--window-size=1280,1500")
#: Seconds the server may take to start (Gradio's import and the ONNX export of the generator, on a busy CPU).
START_TIMEOUT = 300
#: Seconds the page may take to show a translation or a reason.
PAGE_TIMEOUT = 120


def translate_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "translate", *args]


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory) -> Path:
    """A tiny CycleGAN run of its own (the page's ONNX Runtime model is cached in it), named ``run``."""
    return fresh_copy(tiny_run("cyclegan"), tmp_path_factory.mktemp("demo-browser"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A photograph (a JPEG turned upright by its EXIF tag), a text file named like an image, and an image over
    the server's --max-pixels."""
    from skimage import data

    folder = tmp_path_factory.mktemp("demo-uploads")
    (folder / "photo").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: 203×301
    Image.fromarray(data.coffee()).crop((50, 40, 351, 243)).save(folder / "photo" / "coffee.jpg", exif=exif,
                                                                  quality=92)
    (folder / "notes.png").write_text("these are notes, not an image\n")
    Image.new("RGB", (400, 300), (30, 60, 90)).save(folder / "large.png")
    return {"photo": folder / "photo" / "coffee.jpg", "text": folder / "notes.png", "large": folder / "large.png"}


class Server:
    """``translate demo`` in a process of its own, its output read in a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen([sys.executable, "-c", AUDITED_LAUNCH, "demo", *args], text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _read(stream, keep) -> None:
        for line in stream:
            keep(line)

    def url(self) -> str:
        """The address the command printed."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, f"translate demo ended: {''.join(self.stderr)}"
                continue
            if "serving on " in line:
                return line.split("serving on ")[1].split()[0]
        raise AssertionError(f"translate demo printed no address in {START_TIMEOUT} s: {''.join(self.stderr)}")

    def stop(self) -> None:
        """Ctrl+C, as a user stops it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(run):
    demo = Server(str(run), "--max-pixels", "100000")
    yield demo
    demo.stop()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "the browser test needs Debian's chromium and chromium-driver (see .ci/run)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (*CHROMIUM_ARGUMENTS, f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def upload(browser, path: Path, expected: str) -> str:
    """Give ``path`` to the page's input and wait for a status line containing ``expected``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.CSS_SELECTOR, "#demo-input input[type=file]").send_keys(str(path))
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda page: expected in page.find_element(By.ID, "demo-status").text)
    return browser.find_element(By.ID, "demo-status").text


def shown_output(browser) -> Image.Image:
    """The image the page shows as the output, fetched from its address once the browser has loaded it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda page: next(iter(page.find_elements(By.CSS_SELECTOR, "#demo-output img")), None))
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda _: browser.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", image))
    size = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image)
    with urllib.request.urlopen(image.get_attribute("src"), timeout=30) as response:
        shown = Image.open(io.BytesIO(response.read()))
        shown.load()
    assert list(shown.size) == size  # the file fetched is the one the browser shows
    return shown


def requested_addresses(browser) -> set[str]:
    """Every http(s) and ws(s) address the page asked for, from Chromium's log."""
    addresses = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = message["params"].get("request", {}).get("url") or message["params"].get("url", "")
            if url.split(":")[0] in ("http", "https", "ws", "wss"):
                addresses.add(url)
    return addresses


def test_the_page_shows_converts_pixels_says_why_for_bad_files_and_offers_test_images(run, files, server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = server.url()
    browser.get(url)
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda page: "ONNX Runtime" in page.find_element(By.ID, "demo-card").text)  # the default backend: auto

    assert upload(browser, files["text"], "notes.png") == "⚠️ cannot read notes.png: not a recognised image format"
    assert not browser.find_elements(By.CSS_SELECTOR, "#demo-output img")
    status = upload(browser, files["large"], "large.png")
    assert status.startswith("⚠️ cannot read large.png: 400×300 is 120,000 pixels, more than the limit of 100,000")
    assert "--max-pixels" in status

    status = upload(browser, files["photo"], "coffee.jpg:")  # the server still serves
    assert status.startswith("coffee.jpg: 203×301 px, A → B by run on ONNX Runtime on the CPU (fp32) in ")
    shown = shown_output(browser)
    if os.environ.get("TRANSLATE_DEMO_SCREENSHOT"):
        browser.save_screenshot(os.environ["TRANSLATE_DEMO_SCREENSHOT"])

    converted = subprocess.run(translate_command("convert", str(run), str(files["photo"].parent), str(tmp_path / "out"),
                                                 "--format", "png", "--backend", "onnxruntime"),
                               capture_output=True, text=True)
    assert converted.returncode == 0, converted.stderr
    expected = Image.open(tmp_path / "out" / "coffee.png")
    assert shown.size == expected.size == (203, 301) and shown.mode == expected.mode
    assert np.array_equal(np.asarray(shown), np.asarray(expected))

    browser.find_elements(By.CSS_SELECTOR, "#demo-examples .thumbnail-item")[0].click()  # a test image of the run
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda page: page.find_element(By.ID, "demo-status").text.startswith("coffee_00.png: 64×64 px, A → B"))
    browser.find_element(By.CSS_SELECTOR, "#demo-direction input[value=BtoA]").click()
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda page: page.find_element(By.ID, "demo-status").text.startswith("coffee_00.png: 64×64 px, B → A"))
    assert "from the embedded sample set" in browser.find_element(By.ID, "demo-examples").text

    origin, requested = url.rstrip("/"), requested_addresses(browser)
    assert any(address.startswith(f"{origin}/assets/") for address in requested)  # the log holds the page's loads
    outside = {address for address in requested if not address.startswith((origin, origin.replace("http", "ws", 1)))}
    assert not outside, f"the page asked for addresses past its server: {sorted(outside)}"
    server.stop()
    assert not [line for line in server.stderr if line.startswith("OUTSIDE:")], "".join(server.stderr)
    assert server.process.returncode == 0  # Ctrl+C stops it cleanly


def test_kill_stops_the_server_as_ctrl_c_does_and_removes_its_files(run, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    demo = Server(str(run), env={**os.environ, "TMPDIR": str(scratch)})
    try:
        demo.url()
        assert len(list(scratch.glob("translate-demo-*"))) == 1  # the page's files
        demo.process.terminate()
        assert demo.process.wait(timeout=60) == 0
    finally:
        demo.stop()
    assert not list(scratch.glob("translate-demo-*"))
