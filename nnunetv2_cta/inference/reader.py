"""Cases read and preprocessed ahead on background threads for :func:`nnunetv2_cta.inference.pipeline.predict`.

:class:`Reader` reads the cases one ahead (the first while the models load) and, once given the stage-1 model's
preprocessing (:func:`~nnunetv2_cta.inference.grid.ct_preprocessing_of`, from the model folder's plans),
preprocesses them on the same thread; a case is handed over (:class:`CaseRead`) as soon as its preprocessing is
set up, and stage 1's sliding window runs on the first model-grid rows while the thread fills the rest
(:func:`~nnunetv2_cta.inference.grid.start_grid`). On a 700x512x512 CTA on 2 cores that puts the first network
tile 4 s after the command instead of about 8 s.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnunetv2_cta.inference.inputs import InputCase, load_input
from nnunetv2_cta.io import Geometry

if TYPE_CHECKING:
    from nnunetv2_cta.inference.grid import ModelGrid
    from nnunetv2_cta.inference.preprocess import CTPreprocessing

logger = logging.getLogger(__name__)

#: seconds a thread holding the GIL keeps it while another waits (``sys.setswitchinterval``) during ``predict``
#: (:func:`short_gil_switches`); with Python's default 0.005 the reading thread's preprocessing, a few hundred short
#: torch calls that each give the GIL back, waits up to 5 ms per call while the main thread imports and loads models
PREDICT_SWITCH_INTERVAL_S = 0.0005


@dataclass
class CaseRead:
    """One case as :class:`Reader` hands it over.

    Attributes:
        ct: the CT ``[z, y, x]`` in HU, as stored when that is integers of up to 16 bits (``load_input`` with
            ``stored_integers``), else float32.
        geometry: its geometry.
        grid: the CT on the stage-1 model's grid, preprocessed ahead (``None``: not done); its data may still be
            being filled (``grid.rows``): stage 1 waits for the rows each tile needs.
        seconds: ``read`` and ``preprocess`` seconds spent on the reader thread (``preprocess`` once done).
    """

    ct: np.ndarray
    geometry: Geometry
    grid: ModelGrid | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def read_case(case: InputCase) -> CaseRead:
    """``load_input(case, stored_integers=True)``, timed."""
    t0 = time.perf_counter()
    ct, geometry = load_input(case, stored_integers=True)
    return CaseRead(ct, geometry, seconds={"read": round(time.perf_counter() - t0, 3)})


def _preprocess_ahead(
    case: InputCase, read: CaseRead, preprocessing: CTPreprocessing, handover: Future
) -> None:
    """Preprocess ``read`` for stage 1 and hand it over (``handover``'s result) as soon as its grid is set up, then
    fill the grid's rows. Where preprocessing cannot start, the case is handed over without a grid and stage 1
    preprocesses it itself (reporting the error in its turn); an error later reaches stage 1 through the rows."""
    # ct_preprocessing_of (the same module) imported everything this needs on the main thread
    from nnunetv2_cta.inference.grid import start_grid

    t0 = time.perf_counter()
    try:
        grid, steps = start_grid(read.ct, read.geometry, preprocessing)
    except Exception as err:  # stage 1 preprocesses the case again and reports the error in its turn
        logger.info("%s: not preprocessed ahead (%s); stage 1 preprocesses it", case.case, err)
        handover.set_result(read)
        return
    read.grid, rows = grid, grid.rows
    handover.set_result(read)
    try:
        for ready in steps:
            if ready == rows.total:  # before the rows: stage 1 may finish as soon as they are out
                read.seconds["preprocess"] = round(time.perf_counter() - t0, 3)
            rows.publish(ready)
    except BaseException as err:  # stage 1, waiting for the rows, raises it
        rows.fail(err)
        raise


class Reader:
    """Reads the cases to predict one ahead, one at a time, on background threads (decompression releases the GIL)
    and, once :meth:`preprocess_with` gave the stage-1 model's preprocessing, preprocesses them there too, so that
    a case's reading and preprocessing overlap the model loading or the previous case. A case is handed over as
    soon as its preprocessing is set up; its rows follow while stage 1 runs on the first ones. Cases that already
    have a record are not read.

    Each case gets a thread that ends with its work: a thread that ran torch operations keeps OpenMP worker
    threads while it lives, and with more of them than cores OpenMP's workers stop spinning between parallel
    regions, which made the network 15 % slower for the rest of the run (measured: its first 250 batches of tiles in
    34.8 s instead of 30.2 s).
    """

    def __init__(self, out: Path, cases: Sequence[InputCase], overwrite: bool) -> None:
        todo = [c for c in cases if overwrite or not (out / "cases" / c.case / "record.json").is_file()]
        self._next = dict(zip((c.case for c in todo), todo[1:]))
        self._cases = {c.case: c for c in todo}
        self._preprocessing: CTPreprocessing | None = None
        self._last: threading.Thread | None = None  # the thread queued last: the next one waits for it
        self._closed = threading.Event()
        #: per case queued, what :meth:`read` returns (set by its thread)
        self._pending: dict[str, Future] = {}
        if todo:
            self._queue(todo[0])

    def _queue(self, case: InputCase, earlier: Future | None = None) -> None:
        """Start a thread that, after the thread queued before it, reads ``case`` (or takes the result of
        ``earlier``, its read queued before) and preprocesses it when a preprocessing is set; put its handover in
        :attr:`_pending`."""
        handover: Future = Future()
        preprocessing, before = self._preprocessing, self._last

        def work() -> None:
            if before is not None:
                before.join()
            if self._closed.is_set() or not handover.set_running_or_notify_cancel():
                return
            try:
                read = earlier.result() if earlier is not None else read_case(case)
            except Exception as err:  # handed over: the case fails at its turn
                handover.set_exception(err)
                return
            if preprocessing is None:
                handover.set_result(read)
            else:
                _preprocess_ahead(case, read, preprocessing, handover)

        self._pending[case.case] = handover
        self._last = threading.Thread(target=work, name=f"read_case_{case.case}", daemon=True)
        self._last.start()

    def preprocess_with(self, preprocessing: CTPreprocessing | None) -> None:
        """Preprocess the cases read ahead with ``preprocessing`` (:func:`~.model.ct_preprocessing_of` the
        stage-1 model), the one queued already included; ``None``: read only. Torch and scipy must be imported
        (as ``ct_preprocessing_of`` does): the reader threads then import nothing while the models load."""
        self._preprocessing = preprocessing
        if preprocessing is None:
            return
        for name, queued in list(self._pending.items()):  # its thread waits for the read's thread
            self._queue(self._cases[name], earlier=queued)

    def read(self, case: InputCase) -> CaseRead:
        """The case read (and preprocessed) ahead when it was queued, else read now; queues the next case."""
        handover = self._pending.pop(case.case, None)
        following = self._next.get(case.case)
        if following is not None and following.case not in self._pending:
            self._queue(following)
        return handover.result() if handover is not None else read_case(case)

    def close(self) -> None:
        """Drop what was not read yet (a read under way finishes on its own)."""
        self._closed.set()
        for handover in self._pending.values():
            handover.cancel()


@contextmanager
def short_gil_switches():
    """``sys.setswitchinterval`` at most :data:`PREDICT_SWITCH_INTERVAL_S` inside, restored after (measured next
    to a busy thread: the first 64 model-grid rows of the 700-slice CTA 1.5 s after preprocessing started instead
    of 3.1 s)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, PREDICT_SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
