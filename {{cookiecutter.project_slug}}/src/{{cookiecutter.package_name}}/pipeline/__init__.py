"""The runner: executes the phase notebooks in order with papermill (console script `crisp`).

phases (discovery, selection), kernels (started ahead of time), execute (one phase),
kernel_figures (figures rendered beside the kernel), reports (HTML), records (run.json),
runner (one run), cli (the command line).
"""
