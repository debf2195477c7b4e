"""Which label values a folder evaluation accepts, what they are called, and which regions it scores.

Three sources, one result (:class:`LabelSet`):

- **our scheme** (:func:`default_label_set`): 0 background, 1 bone, 2 aorta, 3 carotid, 4 intracranial;
  regions bone, aorta, carotid, intracranial and vessels (2, 3, 4); vessel labels 2, 3, 4. This is what
  ``evaluate`` has always done and still does without options.
- **an nnU-Net dataset.json** (:func:`label_set_from_dataset_json`): its ``labels`` map names to a value or,
  for region-based datasets, to a list of values. The label values that may occur are the union of all of
  them (0 included). Each single value becomes a region named after it; each list of two or more values
  becomes a region of its own name (nnU-Net's overlapping regions, e.g. our ``vessels``).
- **bare values** (:func:`label_set_from_values`, ``--labels``): each foreground value becomes a region
  ``label_<v>``; the values 0..4 exactly mean our scheme.

Vessel labels (regions made only of them get clDice, breaks, connected recall and the V-score): given
explicitly, else 2, 3, 4 when the names or values are our scheme, else every foreground label except one
named ``bone`` (TopCoW, TopBrain and other vessel atlases label nothing but arteries). When there are two or
more vessel labels and no region holds exactly them, a merged region ``vessels`` (or ``all_vessels`` when that
name is taken) is added: the binary vessel tree, on which the topology metrics are most meaningful.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.labels import LABEL_NAMES, LABELS, VESSEL_LABELS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSet:
    """Label values, their names, the regions to score and the vessel labels of an evaluation.

    Attributes:
        names: ``{value: name}`` of every value that may occur, background 0 included.
        regions: ``{region name: label values}`` in output order.
        vessel_labels: foreground values that are vessels.
        source: where it came from, for messages (``"our scheme"``, a dataset.json path, ``"--labels"``).
    """

    names: dict[int, str]
    regions: dict[str, tuple[int, ...]]
    vessel_labels: tuple[int, ...]
    source: str

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(sorted(self.names))

    @property
    def classes(self) -> tuple[int, ...]:
        """Foreground values (the classes of the class-average Dice)."""
        return tuple(v for v in self.labels if v != 0)


def default_label_set() -> LabelSet:
    """Our 0..4 scheme (:mod:`nnunetv2_cta.labels`) with the default regions."""
    from nnunetv2_cta.evaluation.case import DEFAULT_REGIONS

    return LabelSet(dict(LABEL_NAMES), dict(DEFAULT_REGIONS), tuple(VESSEL_LABELS), "our scheme")


def _is_our_scheme(names: Mapping[int, str]) -> bool:
    return set(names) == set(LABEL_NAMES)


def _finish(
    names: dict[int, str],
    regions: dict[str, tuple[int, ...]],
    vessel_labels: Iterable[int] | None,
    source: str,
) -> LabelSet:
    foreground = sorted(v for v in names if v != 0)
    if not foreground:
        raise DatasetFormatError(f"{source}: declares no foreground label, got only {names}")
    if vessel_labels is not None:
        vessels = tuple(sorted({int(v) for v in vessel_labels}))
        undeclared = sorted(set(vessels) - set(foreground))
        if undeclared:
            raise ConfigurationError(
                f"vessel labels {undeclared} are not foreground labels of {source}: {foreground}"
            )
    elif _is_our_scheme(names):
        vessels = tuple(VESSEL_LABELS)
    else:
        vessels = tuple(v for v in foreground if names[v].lower() != "bone")
        logger.info(
            "%s: treating labels %s as vessels (set --vessel-labels to change)", source, list(vessels)
        )
    if len(vessels) >= 2 and vessels not in regions.values():
        name = "vessels" if "vessels" not in regions else "all_vessels"
        if name in regions:
            raise ConfigurationError(f"{source}: regions 'vessels' and 'all_vessels' both exist; rename one")
        regions[name] = vessels
    return LabelSet(dict(sorted(names.items())), regions, vessels, source)


def label_set_from_values(values: Iterable[int], *, vessel_labels: Iterable[int] | None = None) -> LabelSet:
    """Label set of bare values (``--labels``): 0..4 exactly is our scheme, else one region per value.

    Raises:
        DatasetFormatError: a negative value, or no foreground value.
    """
    values = sorted({int(v) for v in values} | {0})
    negative = [v for v in values if v < 0]
    if negative:
        raise DatasetFormatError(f"label values must be >= 0, got {negative}")
    if values == sorted(LABELS.values()) and vessel_labels is None:
        return default_label_set()
    names = {v: LABEL_NAMES[v] if values == sorted(LABELS.values()) else f"label_{v}" for v in values}
    names[0] = "background"
    regions = {names[v]: (v,) for v in values if v != 0}
    return _finish(names, regions, vessel_labels, "--labels")


def label_set_from_dataset_json(
    dataset: str | os.PathLike | Mapping, *, vessel_labels: Iterable[int] | None = None
) -> LabelSet:
    """Label set of an nnU-Net v2 dataset.json (a path or the loaded dict); rules in the module docstring.

    Raises:
        DatasetFormatError: unreadable file, no ``labels`` mapping, a value that is not a non-negative
            integer (or list of them), no background 0, or two names for one value.
    """
    source = "dataset.json"
    if not isinstance(dataset, Mapping):
        path = Path(dataset)
        source = str(path)
        try:
            dataset = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetFormatError(f"dataset.json {source!r} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DatasetFormatError(f"dataset.json {source!r} is not readable JSON: {err}") from err
    labels = dataset.get("labels") if isinstance(dataset, Mapping) else None
    if not isinstance(labels, Mapping) or not labels:
        raise DatasetFormatError(
            f"{source}: needs a non-empty 'labels' mapping of name -> value, got {labels!r}"
        )
    names: dict[int, str] = {}
    multi: dict[str, tuple[int, ...]] = {}
    for name, value in labels.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in items):
            raise DatasetFormatError(
                f"{source}: label {name!r} must be a non-negative integer or a list of them, got {value!r}"
            )
        items = tuple(sorted(set(items)))
        if len(items) == 1:
            if items[0] in names:
                raise DatasetFormatError(
                    f"{source}: label value {items[0]} is named twice, {names[items[0]]!r} and {name!r}"
                )
            names[items[0]] = str(name)
        else:
            multi[str(name)] = items
    for values in multi.values():  # values that only occur inside regions still get a name
        for v in values:
            names.setdefault(v, f"label_{v}")
    if 0 not in names:
        raise DatasetFormatError(f"{source}: needs a background label with value 0, got {dict(labels)}")
    if 0 in {v for values in multi.values() for v in values}:
        raise DatasetFormatError(f"{source}: a region must not contain the background 0, got {multi}")
    regions = {names[v]: (v,) for v in sorted(names) if v != 0}
    for name, values in multi.items():
        if name in regions:
            raise DatasetFormatError(f"{source}: region {name!r} has the name of a label")
        regions[name] = values
    return _finish(names, regions, vessel_labels, source)
