"""The one error of a bench run.

``BenchError`` means the run could not produce a measurement (Redis or a worker did not start,
a reply never came). A missed target is not an error: it is a result, printed as ``MISSED``.
"""

from __future__ import annotations


class BenchError(RuntimeError):
    """The bench could not measure; the message says what failed and where to look."""
