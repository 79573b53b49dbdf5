"""The demo page (Gradio Blocks) and its server on 127.0.0.1.

A user uploads, drops or pastes an image (or clicks one of the run's test images), chooses the
run and, where the model has them, its direction or target domain; the input and its translation
appear side by side, the translation with a download button, and a line under them says what was
done or, for a file the page cannot translate, why not. The run's card is below.

Importing this module imports Gradio offline (:func:`translate.demo.offline.require_gradio`), or raises
the one-line error saying what to install.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from translate.demo.examples import copy_examples, input_images
from translate.demo.offline import require_gradio
from translate.demo.runs import DemoRun, card
from translate.demo.translation import DEMO_MAX_PIXELS, DemoInputError, translate_upload
from translate.errors import TranslateError

gr = require_gradio()

#: The only address the page is served on.
HOST = "127.0.0.1"
#: Translations whose files are kept for the page (older ones are removed).
KEPT_OUTPUTS = 4
#: Height of the input and output boxes (images are scaled to fit) and of the test images' gallery, in pixels.
IMAGE_HEIGHT = 420
GALLERY_HEIGHT = 300
#: Labels of the directions in the page's choice.
DIRECTION_LABELS = {"AtoB": "A → B", "BtoA": "B → A"}


def hand_over_uploads(image: Any) -> Any:
    """Make Gradio's image box ``image`` (``type="filepath"``) pass uploads on unopened, as the files they are.

    Gradio's own preprocessing opens an upload with Pillow first, so a file that is not an image would fail
    there, with Pillow's message, before :func:`~translate.demo.translation.translate_upload` can say what is
    wrong. (Set on the instance: a subclass of a Gradio component writes a ``.pyi`` file beside its module.)
    """
    gradio_preprocess = image.preprocess

    def preprocess(payload: Any) -> str | None:
        if payload is not None and payload.path is not None and not (payload.url or "").startswith("data:"):
            return str(payload.path)  # in Gradio's upload folder: Gradio checked that before this
        return gradio_preprocess(payload)  # nothing, or a pasted data URL

    image.preprocess = preprocess
    return image


class DemoPage:
    """The page of ``runs``: its components, what their events do, and the files it shows."""

    def __init__(self, runs: list[DemoRun], max_pixels: int | None, work: Path):
        if not runs:
            raise TranslateError("name at least one RUN to serve")
        self.runs = {run.name: run for run in runs}
        self.max_pixels = max_pixels
        self.work = work
        self._outputs = itertools.count()
        self._examples: dict[tuple[str, str | None], list[Path]] = {}

    # -- events ---------------------------------------------------------------------------------------

    def translate(self, run_name: str, upload: str | None, direction: str | None, targets: Any
                  ) -> tuple[str | None, str]:
        """The output image and the status line for an upload (nothing for no upload)."""
        if not upload:
            return None, ""
        run = self.runs[run_name]
        try:
            condition = run.choices.condition(direction, targets)
            done = translate_upload(run, upload, condition, self.max_pixels, self._output_folder())
        except TranslateError as exc:  # a DemoInputError, or a choice the model refuses
            return None, f"⚠️ {exc}"
        return str(done.output), done.status(Path(upload).name, run, condition)

    def select_run(self, run_name: str) -> tuple[Any, ...]:
        """The direction and target choices, the card, and the test images of a run."""
        run = self.runs[run_name]
        choices = run.choices
        direction = gr.Radio(choices=[(DIRECTION_LABELS.get(way, way), way) for way in choices.directions],
                             value=choices.default_direction if choices.directions else None,
                             visible=bool(choices.directions))
        first = list(choices.targets[:1])
        target = gr.Dropdown(choices=list(choices.targets), value=first if choices.several_targets else next(
            iter(first), None), multiselect=choices.several_targets, visible=bool(choices.targets))
        examples = self.examples(run, choices.default_direction)
        return direction, target, card(run), self._gallery(run, examples), examples

    def change_direction(self, run_name: str, direction: str | None) -> tuple[Any, list[Path]]:
        """The test images for a direction (a B → A model reads the B side)."""
        run = self.runs[run_name]
        examples = self.examples(run, direction)
        return self._gallery(run, examples), examples

    @staticmethod
    def pick_example(examples: list[Path], selected: gr.SelectData) -> str:
        """The test image clicked in the gallery, as the input."""
        return str(examples[selected.index])

    # -- files ----------------------------------------------------------------------------------------

    def examples(self, run: DemoRun, direction: str | None) -> list[Path]:
        """The run's test images for ``direction``: copies in the page's folder, made once."""
        side = run.choices.input_side(direction)
        key = (run.name, side)
        if key not in self._examples:
            found = input_images(run.data, side) if run.data is not None else []
            folder = self.work / "examples" / str(list(self.runs).index(run.name)) / (side or "domains")
            self._examples[key] = copy_examples(found, folder)
        return self._examples[key]

    def _gallery(self, run: DemoRun, examples: list[Path]) -> Any:
        if examples:
            label = f"Test images of {run.name}, from {run.data_description()}: click one to try it"
        else:
            label = f"No test images of {run.name} here: {run.data_description()} has no test split on this machine"
        return gr.Gallery(value=[str(path) for path in examples], label=label)

    def _output_folder(self) -> Path:
        """A new folder for one translation's file (the page shows each under its own address); the folders of
        all but the last :data:`KEPT_OUTPUTS` translations are removed."""
        number = next(self._outputs)
        stale = self.work / "outputs" / str(number - KEPT_OUTPUTS)
        shutil.rmtree(stale, ignore_errors=True)
        return self.work / "outputs" / str(number)

    # -- layout ---------------------------------------------------------------------------------------

    def build(self) -> Any:
        """The page as Gradio Blocks, its events wired."""
        first = next(iter(self.runs.values()))
        with gr.Blocks(title="translate demo", analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
            gr.Markdown("## translate demo\nUpload, drop or paste an image, or click one of the run's test images "
                        "below. It is translated at its own size, as `translate convert` translates it.")
            with gr.Row():
                run = gr.Dropdown(list(self.runs), value=first.name, label="Run", interactive=len(self.runs) > 1,
                                  elem_id="demo-run")
                direction = gr.Radio(label="Direction", elem_id="demo-direction")
                target = gr.Dropdown(label="Target domain", elem_id="demo-target")
            with gr.Row(equal_height=True):
                upload = hand_over_uploads(gr.Image(type="filepath", label="Input", sources=["upload", "clipboard"],
                                                    buttons=["fullscreen"], height=IMAGE_HEIGHT, elem_id="demo-input"))
                output = gr.Image(type="filepath", format="png", label="Output", interactive=False,
                                  buttons=["download", "fullscreen"], height=IMAGE_HEIGHT, elem_id="demo-output")
            status = gr.Markdown(elem_id="demo-status")
            again = gr.Button("Translate again", variant="secondary", elem_id="demo-translate")
            gallery = gr.Gallery(columns=8, height=GALLERY_HEIGHT, allow_preview=False, buttons=[],
                                 elem_id="demo-examples")
            examples = gr.State([])
            run_card = gr.Markdown(elem_id="demo-card")
            self._wire(blocks, run, direction, target, upload, output, status, again, gallery, examples, run_card)
        return blocks

    def _wire(self, blocks: Any, run: Any, direction: Any, target: Any, upload: Any, output: Any, status: Any,
              again: Any, gallery: Any, examples: Any, run_card: Any) -> None:
        """What the page's events do."""
        translate_args = {"fn": self.translate, "inputs": [run, upload, direction, target], "outputs": [output, status],
                          "concurrency_limit": 1, "concurrency_id": "translate"}  # one translation at a time
        shown = {"fn": self.select_run, "inputs": [run], "outputs": [direction, target, run_card, gallery, examples]}
        blocks.load(**shown)
        run.change(**shown).then(**translate_args)
        direction.input(self.change_direction, [run, direction], [gallery, examples]).then(**translate_args)
        target.input(**translate_args)
        upload.change(**translate_args)
        again.click(**translate_args)
        gallery.select(self.pick_example, [examples], [upload])


def check_port(port: int) -> None:
    """Refuse ``port`` on 127.0.0.1 when something listens on it (before runs are loaded for nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise TranslateError(f"--port {port}: {HOST}:{port} is taken ({exc.strerror or exc}); choose another "
                                 "port, or leave --port out for a free one") from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def serve(runs: list[DemoRun], port: int | None = None, max_pixels: int | None = DEMO_MAX_PIXELS,
          announce: Callable[[str], None] = print) -> None:
    """Serve the page of ``runs`` on 127.0.0.1 (``port``, or a free one) until interrupted (Ctrl+C, or SIGTERM).

    ``announce`` receives the page's address once it answers. The page's files (test-image copies,
    translations) live in a temporary folder removed at the end.
    """
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="translate-demo-") as work:
        blocks = DemoPage(runs, max_pixels, Path(work)).build()
        blocks.queue(default_concurrency_limit=1)
        try:
            blocks.launch(server_name=HOST, server_port=port, prevent_thread_lock=True, quiet=True, show_error=True,
                          share=False, inbrowser=False, footer_links=[], ssr_mode=False, mcp_server=False, pwa=False,
                          enable_monitoring=False)
        except OSError as exc:
            raise TranslateError(f"cannot serve on {HOST} port {port} ({exc}); choose another --port") from None
        try:
            with _terminate_as_interrupt():
                announce(f"http://{HOST}:{port}/")
                blocks.block_thread()  # until Ctrl+C
        except KeyboardInterrupt:  # before Gradio's wait caught it
            pass
        finally:
            blocks.close()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM (``kill``, a service manager) stops the server as Ctrl+C does, so that its files are removed.
    (Signal handlers belong to the main thread; elsewhere nothing changes.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
