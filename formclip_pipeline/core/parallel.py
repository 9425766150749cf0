"""Work spread over processes, or done in the calling process when one is asked for."""
from __future__ import annotations

import contextlib
import types


@contextlib.contextmanager
def processes(workers: int):
    """Something with an ordered, lazy `map`: the calling process itself for one worker, else a pool
    of fresh ("spawn") processes, since BlazePose and torch's threads do not survive a fork."""
    if workers <= 1:
        yield types.SimpleNamespace(map=map)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool
