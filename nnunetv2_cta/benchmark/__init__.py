"""The benchmark: CTA vs non-contrast CT vs 3D-DSA, our trainers vs stock nnU-Net vs a classic method.

- :mod:`.definition`: the one declarative table of datasets, methods and budgets (stdlib only).
- :mod:`.classic`: the non-learned method (Frangi vesselness + HU thresholds, connected components).
- :mod:`.runner`: :func:`~.runner.run_benchmark`, resumable steps with completion markers.
- :mod:`.report`: results tables, plots and the machine description.

Only :mod:`.definition` is imported here, so the CLI can check names without loading torch.
"""

from nnunetv2_cta.benchmark.definition import BUDGETS, DATASETS, METHODS, get_budget, get_method, select_runs

__all__ = ["BUDGETS", "DATASETS", "METHODS", "get_budget", "get_method", "select_runs"]
