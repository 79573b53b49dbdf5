"""``translate demo``: try trained runs in the browser (the ``demo`` extra)."""

from __future__ import annotations

import click

from translate.cli.common import BACKEND_CHOICES, command_registry, plugin_option, user_errors

#: ``translate demo --max-pixels`` default, spelled out so that ``--help`` imports no torch (a test keeps it
#: equal to :data:`translate.demo.translation.DEMO_MAX_PIXELS`).
DEMO_MAX_PIXELS_DEFAULT = 4096 * 4096


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False), metavar="RUN...")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port on 127.0.0.1 to serve the page on (default: a free one; the URL is printed).")
@click.option("--backend", type=click.Choice(("auto",) + BACKEND_CHOICES), default="auto", show_default=True,
              help="auto: ONNX Runtime (fp32, on the CPU) when the 'onnx' extra is installed, else torch; a "
                   "model that cannot be exported as one generator runs in torch.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps (--backend torch).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=DEMO_MAX_PIXELS_DEFAULT, show_default=True,
              help="Uploads with more pixels (width × height) are refused on the page before being decoded.")
@plugin_option
@user_errors
def demo(runs: tuple[str, ...], port: int | None, backend: str, device: str, max_pixels: int,
         plugins: tuple[str, ...]) -> None:
    """Try trained runs in the browser: a page on 127.0.0.1 to upload an image (or pick a test image),
    choose the run, its direction or target domain, and see and download the translation.

    RUN is a run folder (its latest checkpoint) or a checkpoint folder; each one is translated as
    translate convert translates it, at the image's own size. The page shows each run's card: model,
    objective, steps, options and the numbers of translate eval. Needs the 'demo' extra
    (pip install 'image-translate[demo]'). Ctrl+C stops it.
    """
    from translate.demo.offline import require_gradio

    require_gradio()  # the one-line error saying what to install, before any run is loaded
    from translate.demo.page import check_port, serve
    from translate.demo.runs import load_runs

    if port is not None:
        check_port(port)

    loaded = load_runs(list(runs), backend=backend, device=device, registry=command_registry(plugins),
                       report=lambda line: click.echo(line, err=True))
    for run in loaded:
        click.echo(f"{run.name}: {run.checkpoint} ({run.metadata.get('model')}, {run.backend_description()})")
    serve(loaded, port=port, max_pixels=max_pixels,
          announce=lambda url: click.echo(f"translate demo: serving on {url} (Ctrl+C stops it)"))
