"""Experiments: running models over benchmark suites, resumably, and measuring what the exits save and cost.

Each module owns one kind of run: `runner` (`cotexit bench`: solve a suite
one batch at a time, grade each row as it finishes, write results and a
summary), `paired` (each problem decoded plainly and with the exits, same
seed: the savings and the accuracy cost), `collect` (a forced exit at every
cue: the probe's training and calibration data), `sweep` (the
accuracy-cost Pareto sweep over collected cues), `live_check` (the bound
watched over a paired run) and `audit` (the same watch over a served
probe's traffic: `served` talks to the server, `audit_report` sums up).
Suites, grading and result files are `cotexit.benchmarks`'; the engines,
exits and models they drive are the packages below; rendering progress is
the CLI's job. Nothing is imported here: each module is imported on its
own.
"""
