"""``translate demo``: a page in the browser to try trained runs (the ``demo`` extra, Gradio).

* :mod:`~translate.demo.runs` — the runs a page serves: each one's :class:`~translate.convert.Translator`
  (the one ``translate convert`` uses), what the page lets a user choose (direction, target domain)
  and the run's card (model, objective, steps, options, ``eval-*.json`` numbers);
* :mod:`~translate.demo.examples` — the run's test images the page offers (its data's test split);
* :mod:`~translate.demo.translation` — one uploaded file read, translated and written as
  ``translate convert`` does, or a readable reason why not;
* :mod:`~translate.demo.page` — the Gradio page and its server on 127.0.0.1, offline (no analytics, no
  assets from the internet).

Only :mod:`~translate.demo.page` imports Gradio; importing this package imports neither Gradio nor torch.
"""
