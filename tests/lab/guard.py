"""A termination guard for inputs crafted to make a parser quadratic.

``bounded(seconds)`` raises ``Unbounded`` in the main thread when the block has not finished after ``seconds`` of
wall time. It is not a speed assertion (benchmarks/ measure speed): the inputs it guards took minutes before
their fixes (issue 24: 357 s, 283 s) and take milliseconds after, so the bound sits orders of magnitude away from
both and only says whether the work finishes at all.
"""

import contextlib
import signal


class Unbounded(AssertionError):
    pass


@contextlib.contextmanager
def bounded(seconds, what="the work"):
    def expire(signum, frame):
        raise Unbounded("{0} did not finish within {1} s: not linear in its input".format(what, seconds))
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
