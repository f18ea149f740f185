"""The hostile-probe cases of issue 17, one module per area; `benchmarks/probe.py` runs them all."""
