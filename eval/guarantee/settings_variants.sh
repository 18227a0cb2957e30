#!/bin/bash
# From the collection of probes/toy-arith-settings (calibration/toy-arith-settings/README.md), with the same amount
# of data: a probe certified over greedy and T=0.6 only (runs/settings/calib-0-0.6 lists those two setting folders
# of runs/settings/calib), and one calibrated at T=0.6 alone. What covering T=1.0 (and greedy) costs, read on
# each probe's calibration split (their bench runs on test problems were not made).
cd "$(dirname "$0")/../.." && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
mkdir -p runs/settings/calib-0-0.6
ln -sfn ../calib/temperature-0 runs/settings/calib-0-0.6/temperature-0
ln -sfn ../calib/temperature-0.6 runs/settings/calib-0-0.6/temperature-0.6
python -c "
import json
settings = json.load(open('runs/settings/calib/settings.json'))['settings'][:2]
json.dump({'settings': settings}, open('runs/settings/calib-0-0.6/settings.json', 'w'), indent=2)
"
cotexit calibrate --data runs/settings/calib-0-0.6 --mode accuracy-drop --epsilon 0.02 --delta 0.1 --out eval/guarantee/probe-settings-greedy-t0.6
cotexit calibrate --data runs/settings/calib/temperature-0.6 --mode accuracy-drop --epsilon 0.02 --delta 0.1 --out eval/guarantee/probe-settings-t0.6-only
