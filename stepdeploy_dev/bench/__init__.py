"""`make bench`: figures measured on the local cloud, written to docs/benchmarks.md.

``python -m stepdeploy_dev.bench`` runs every part (see ``__main__``); each part is a module:
``suite`` (the test suite's wall time), ``functions`` (webhook request times, cold imports and
package sizes), ``demo_runs`` (transitions, Lambda invocations, cost and added latency per wait,
from the demo's scenarios), ``load`` (100 pushes across 20 repositories). The pure parts
(``stats``, ``pricing``, ``history``, ``waits``) have unit tests; ``report`` writes the document.
"""
