"""``fanout report``: an HTML run report (timeline, throughput, distributions, failures, cost).

* :mod:`.collect` reads one execution from the target (Step Functions history, DescribeJobs, ListJobs
  on array parents) into a :class:`~.collect.RunData`, aggregating or sampling large runs;
* :mod:`.charts` draws the pictures with matplotlib (Agg backend: no display needed);
* :mod:`.cost` estimates what the same run costs in AWS from ``prices.json``;
* :mod:`.html` writes one self-contained HTML file (pictures embedded, no network);
* :mod:`.cli` is the verb.
"""
