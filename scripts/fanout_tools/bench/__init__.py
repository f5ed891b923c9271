"""``fanout bench``: every fan-out mode beside the AWS sample's design, measured in the same run.

What is measured, and how (the README's "Benchmark" section shows a saved table):

* **Stacks** are the ones users deploy: each design is one Terraform stack (``bench-<design>``, its own
  state) applied from ``terraform/`` with a var file the bench writes (:mod:`.designs`), through
  :func:`fanout_tools.deploy.open_stack`, in the local sandbox account. The AWS sample's design is the
  same stack with ``comparison_design = "sample"`` (its definition is rendered by ``fanout render``).
* **Executions** (:mod:`.measure`) run with a cheap job command (``true``), so the figures are the
  orchestration's, and are read by ``fanout run``'s own follower (:func:`fanout_tools.run.follow`):
  parent history events and billed state transitions (states entered) from ``GetExecutionHistory``.
  Batch ``SubmitJob`` calls are the jobs the stack's queue received (array children are not
  submissions). Distributed Map children run inside the emulator without a history of their own, so
  their events and transitions are *modelled* (``lambda/generator/capacity.py``) and marked ``~``.
* **Generator** time and peak memory: the deployed zip's handler, with the deployed function's
  environment, in a fresh process writing to the sandbox's S3 (peak RSS of that whole process).
* **Capacity** and the sizes the sandbox does not run are modelled by ``lambda/generator/capacity.py``
  (:mod:`.report` turns measurements and models into the table).
"""
