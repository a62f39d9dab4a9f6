"""Tools beside the library: benchmarks, the GPU check, the model zoo table, reference probes and
fake datasets for tests and docs. They may import any layer; nothing in the library imports them.

Each command is a console script and a ``python -m`` entry (``make zoo``, ``bench``,
``bench-data``, ``gpu-check`` call them):

- ``tunnellab-zoo`` / ``python -m tunnellab.tools.zoo``: ``zoo.csv`` of the paper's models
- ``tunnellab-bench`` / ``python -m tunnellab.tools.bench.probe``: the probe-engine benchmark
- ``tunnellab-bench-data`` / ``python -m tunnellab.tools.bench.data``: the data-loading benchmark
- ``tunnellab-gpu-check`` / ``python -m tunnellab.tools.bench.gpu``: GPU rates, GPU-hours per study
"""
