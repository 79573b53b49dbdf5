"""``translate eval``: how good a trained model is on a data set's held-out split.

:func:`evaluate` loads a checkpoint (or a run's latest), translates the split's inputs
at the model's training size (images resized to ``image_size`` squares, as during
training) and reports

- **paired metrics** when the split holds pairs (aligned ``test/`` or ``testA/`` +
  ``testB/`` with matching names): PSNR (dB), SSIM (Gaussian window) and L1 (mean
  absolute error in [-1, 1], the scale of pix2pix's L1 loss) of output vs target, LPIPS
  (the ``lpips`` package) when its backbone file is given, and the same for the
  **identity** baseline (input vs target);
- **FID and KID** between generated and real target-domain images for every model,
  computed by torch-fidelity with the field's Inception graph when a local copy of its
  weights is given (:mod:`~translate.evaluate.inception`; nothing downloads);
- the **objective's statistics** for stateful objectives (BEGAN's convergence measure
  M): each critic's outputs on real and generated test images, through the saved
  critics, turned into the statistics the objective logs in training
  (:meth:`~translate.objective.Objective.update` on a copy, state keys left out). When the
  data cannot feed the model's training step, the last values in the run's
  ``metrics.jsonl`` are reported instead; ``objective_measures_source`` says which.

Which images are inputs and targets: pix2pix follows its trained direction; two-way
models (CycleGAN, UNIT) take ``direction`` (default: the trained one); multi-domain
models (StarGAN) take ``to=DOMAIN`` with domain folders: inputs are the split's other
domains, real images that domain's.

Every result says what computed each number (``implementations``: library, version, weights
file and its SHA-256) and, in ``notes``, how to get the metrics not computed.

The package's modules: :mod:`~translate.evaluate.scoring` (:func:`evaluate`), :mod:`~translate.evaluate.images`
(which images are inputs, targets and real images), :mod:`~translate.evaluate.objective_measures` (the
objective's statistics), :mod:`~translate.evaluate.inception` (FID and KID through torch-fidelity),
:mod:`~translate.evaluate.perceptual` (LPIPS), :mod:`~translate.evaluate.libraries` (the optional
libraries and their weights files), :mod:`~translate.evaluate.tools` (those networks, loaded once),
:mod:`~translate.evaluate.folders` (``--fake/--real``: FID and KID of two folders, no run),
:mod:`~translate.evaluate.checkpoints` (``--all-checkpoints``: every kept checkpoint, and the best) and
:mod:`~translate.evaluate.report` (the tables and the JSON files).
"""

from translate.evaluate.images import EvalError
from translate.evaluate.report import default_output, table, write_json
from translate.evaluate.scoring import evaluate

__all__ = ["EvalError", "default_output", "evaluate", "table", "write_json"]
