"""How many examples each backend's state machines run: the exploration budget.

The kit's :data:`~alligator.testing.DEFAULT_SETTINGS` (50 examples of up to 40
steps) suit a user's first run; here each backend gets as many examples as fit
in its budget of about 8 seconds per backend on the 2-core CI runner (shared,
so measured under load). One example is 2 queues, up to 40 steps, and every
invariant (len, stats, buried of both queues) after each step:

========================  ===============  ========  =======
machine                   cost per example examples  seconds
========================  ===============  ========  =======
locmem, reliable          14 ms            250       3.5
locmem, plain             11 ms            150       1.7
locmem, real time         28 ms            100       2.8
1.0 client, plain         8 ms             300       2.5
sqlite, reliable          28 ms            250       7
redis, reliable           53 ms            120       6.5
redis-cluster, reliable   230 ms           40        9
beanstalkd, reliable      37 ms            150       5.5
beanstalkd, plain         27 ms            100       2.7
========================  ===============  ========  =======

About 45 s in all, against about 20 s for 50 examples each (25 on
beanstalkd) before. A soak runs any of them longer:
``settings(machine_settings("redis"), max_examples=2_000)``.
"""

from __future__ import annotations

from hypothesis import settings

from alligator.testing import DEFAULT_SETTINGS

__all__ = ["EXAMPLES", "machine_settings"]

EXAMPLES = {
    "locmem": 250,
    "locmem-plain": 150,
    "locmem-real-time": 100,
    "simple": 300,
    "sqlite": 250,
    "redis": 120,
    "redis-cluster": 40,
    "beanstalk": 150,
    "beanstalk-plain": 100,
}


def machine_settings(backend: str) -> settings:
    """The kit's defaults with this backend's share of examples."""
    return settings(DEFAULT_SETTINGS, max_examples=EXAMPLES[backend])
