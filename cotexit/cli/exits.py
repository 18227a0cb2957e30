"""Options that turn exits on (`--probe`, `--exit`, `--layer-exit ...`) and the `Treatment` they make.

Owns the exit arguments shared by `solve` and `bench`, their validation
before a model is loaded, the `cotexit.Exits` they mean (`run_exits`), and
`build_treatment` once the model is loaded (the exits resolved, with what the
probe's guarantee covers).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from cotexit.api.exits import SHIPPED_FOR_MODEL, Exits
from cotexit.baselines import parse_baseline
from cotexit.controller.cues import CueConfig
from cotexit.depth.config import EXACT_DEFAULTS, LayerExitConfig
from cotexit.experiments.paired import Treatment
from cotexit.models.loading import LoadedModel
from cotexit.probes.artifact import ProbeArtifact
from cotexit.probes.controller import artifact_cues
from cotexit.shipped import shipped_probe


def _fraction(f: float) -> str:
    return f"N/{round(1 / f)}" if abs(1 / f - round(1 / f)) < 1e-9 else f"{f:g}N"


_FRACTIONS = ", ".join(_fraction(f) for f in EXACT_DEFAULTS["draft_fractions"])
_EXACT_DEFAULTS = (
    f"candidate draft layers {_FRACTIONS}, --drafter {EXACT_DEFAULTS['drafter']}, --max-draft {EXACT_DEFAULTS['max_draft']}"
)


def add_exit_args(parser: argparse.ArgumentParser) -> None:
    length = parser.add_argument_group("length exit (stop thinking at a cue)")
    length.add_argument("--probe", help="probe artifact folder (see `cotexit calibrate`)")
    length.add_argument("--exit", action="store_true", help="use the probe shipped for --model (probes/<name>)")
    length.add_argument("--probe-threshold", type=float, help="override the calibrated threshold (drops the guarantee)")
    length.add_argument(
        "--baseline",
        help="a baseline policy instead of the probe: deer:P (trial answer's mean token prob >= P), "
        "consistency:K (last K trial answers agree), budget:N (N thinking tokens); trial tokens are counted",
    )
    depth = parser.add_argument_group("depth exit (skip layers per token)")
    depth.add_argument(
        "--layer-exit", choices=["propagate", "exact"],
        help="turn on token-level layer exit; exact with no other depth option runs the defaults eval/speculative "
        f"measured fastest on the toy model and SmolLM2: {_EXACT_DEFAULTS}",
    )
    depth.add_argument("--exit-every", type=int, help="an exit point every K layers")
    depth.add_argument("--exit-layers", help="comma-separated exit points (layers 1..N-1)")
    depth.add_argument("--exit-measure", choices=["softmax", "margin", "saturation"], default="softmax")
    depth.add_argument("--exit-threshold", type=float, default=0.9, help="confidence needed to exit (default: 0.9)")
    depth.add_argument(
        "--draft-layer", type=_layer_list,
        help="exact mode: the layer drafts come from, or several (E1,E2,...): each is tried and the one measured "
        f"fastest drafts (default: the first exit point if --exit-every/--exit-layers are given, else {_FRACTIONS} "
        "of the model's N layers, the measured best)",
    )
    depth.add_argument(
        "--max-draft", type=int,
        help=f"exact mode: the most tokens drafted per cycle (default: {EXACT_DEFAULTS['max_draft']}, the measured best)",
    )
    depth.add_argument(
        "--drafter", choices=["layer", "context", "auto"],
        help="exact mode: drafts from the draft layer, from the context (prompt lookup: what followed the "
        "latest earlier occurrence of the last --ngram tokens), or auto (both); each cycle runs the source (or no "
        "drafts at all) that has measured fastest so far, and layer drafts stop when their chance of acceptance no "
        f"longer pays for a draft step (default: {EXACT_DEFAULTS['drafter']}, the measured best)",
    )
    depth.add_argument(
        "--fixed-drafts", action="store_true",
        help="exact mode: no online choice: always draft --max-draft tokens from the --drafter's source "
        "(auto: the context when it has a match, else the layer)",
    )
    depth.add_argument("--ngram", type=int, default=3, help="exact mode, context drafts: the longest tail matched (default: 3)")
    depth.add_argument("--depth-artifact", help="propagate mode: exit points, measure and threshold from `calibrate-depth`")


def _layer_list(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a layer number or a comma-separated list of them, got {text!r}")
    return layers


def depth_artifact_config(folder: str) -> LayerExitConfig:
    """The propagate-mode config a `calibrate-depth` artifact certified; an error if it certified none."""
    from cotexit.depth.calibrate import load_depth_artifact

    card = load_depth_artifact(folder)
    if card["never_exit"]:
        raise ValueError(f"{folder} certified no threshold: layer exit would never fire")
    return _config_from_json(card["layer_exit"])


def _config_from_json(saved: dict[str, Any]) -> LayerExitConfig:
    return LayerExitConfig.from_json(saved)


def certified_layer_exit(args: argparse.Namespace) -> LayerExitConfig | None:
    """The depth setting a joint probe artifact (`calibrate-joint`) was certified with, if --probe/--exit is one."""
    import json

    probe = probe_path(args)
    card = probe / "card.json" if probe is not None else None
    if card is None or not card.is_file():
        return None
    try:
        saved = json.loads(card.read_text()).get("layer_exit")
    except json.JSONDecodeError:
        return None  # reported when the artifact is loaded
    return _config_from_json(saved) if saved else None


def layer_exit_config(args: argparse.Namespace) -> LayerExitConfig | None:
    """The run's depth setting: the options', else the one a joint probe artifact was certified with."""
    if args.depth_artifact and args.layer_exit != "propagate":
        raise ValueError("--depth-artifact needs --layer-exit propagate")
    if (args.drafter not in (None, "layer") or args.fixed_drafts) and args.layer_exit != "exact":
        raise ValueError("--drafter and --fixed-drafts are for --layer-exit exact (propagate mode does not draft)")
    if not args.layer_exit:
        return certified_layer_exit(args)
    if args.depth_artifact:
        return depth_artifact_config(args.depth_artifact)
    points = tuple(int(x) for x in args.exit_layers.split(",")) if args.exit_layers else ()
    # exact mode with no layer option: the config's own default candidates (fractions of the model's depth)
    every = args.exit_every if (args.exit_every or points) else (None if args.draft_layer or args.layer_exit == "exact" else 2)
    return LayerExitConfig(
        mode=args.layer_exit,
        measure=args.exit_measure,
        every=every if not points else None,
        points=points,
        thresholds=(args.exit_threshold,),
        draft_layer=args.draft_layer[0] if args.draft_layer and len(args.draft_layer) == 1 else None,
        draft_layers=args.draft_layer if args.draft_layer and len(args.draft_layer) > 1 else (),
        max_draft=args.max_draft,
        drafter=args.drafter,
        ngram=args.ngram,
        adaptive=not args.fixed_drafts,
    )


def probe_path(args: argparse.Namespace) -> Path | None:
    if args.probe and args.exit:
        raise ValueError("give --probe DIR or --exit, not both")
    if args.probe:
        return Path(args.probe)
    if args.exit:
        name = SHIPPED_FOR_MODEL.get(args.model)
        if name is None:
            raise ValueError(f"no probe ships for model {args.model!r}; pass --probe DIR (shipped: {sorted(SHIPPED_FOR_MODEL)})")
        return shipped_probe(name)
    return None


def exit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What identifies the treated run in `run.json` (empty when no exit is on)."""
    depth = layer_exit_config(args)
    probe = probe_path(args)
    if args.baseline:
        if probe is not None:
            raise ValueError("give a probe (--probe/--exit) or --baseline, not both")
        parse_baseline(args.baseline)
    if depth is None and probe is None and not args.baseline:
        return {}
    return {
        "baseline": args.baseline,
        "probe": str(probe) if probe else None,
        "probe_threshold": args.probe_threshold,
        "layer_exit": depth.to_json() if depth else None,
    }


def run_exits(args: argparse.Namespace) -> Exits | None:
    """The `Exits` the options ask for (None: no exit is on); the Python API's object, so both mean the same."""
    if not exit_settings(args):
        return None
    return Exits(probe=probe_path(args), probe_threshold=args.probe_threshold, baseline=args.baseline,
                 layer_exit=layer_exit_config(args))


def probe_cues(args: argparse.Namespace) -> CueConfig | None:
    """The cue set of the probe --probe/--exit names (None without one): what a run watches unless --cues says."""
    probe = probe_path(args)
    return artifact_cues(ProbeArtifact.load(probe)) if probe is not None else None


def fill_run_defaults(args: argparse.Namespace) -> list[str]:
    """Fill the options left out: a probe's (--probe/--exit) calibration settings, else the defaults.

    Returns the options taken from the probe. A probe certified over several settings lends the one that agrees
    with the options given, preferring the one that the defaults are (so `--exit` alone stays greedy when greedy
    is covered). The probe's dtype, when its card records one, is the run's unless --dtype says. Exact layer exit
    reproduces greedy decoding, so there an unset temperature stays 0.
    """
    from cotexit.cli.common import fill_decode_defaults
    from cotexit.probes.coverage import certified_settings

    probe = probe_path(args)
    setting = choose_setting(certified_settings(ProbeArtifact.load(probe)), args) if probe is not None else None
    taken = fill_decode_defaults(args, setting and setting["decode"], greedy_only=args.layer_exit == "exact")
    if setting and setting.get("dtype") and args.dtype is None:
        args.dtype = setting["dtype"]
        taken.append("dtype")
    return taken


def choose_setting(settings: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The certified setting a run takes its omitted options from: of those that agree with the options given,
    the first whose values for the omitted ones are the defaults, else the first that agrees, else the first."""
    from cotexit.cli.common import decode_option

    def agrees(setting: dict[str, Any], explicit: bool) -> bool:
        for name in ("max_new_tokens", "max_answer_tokens", "temperature", "top_p"):
            given = getattr(args, name)
            want = given if given is not None else (args.decode_fallback[name] if not explicit else None)
            if want is not None and decode_option(setting["decode"], name) != want:
                return False
        return True

    for explicit in (False, True):
        for setting in settings:
            if setting.get("decode") is not None and agrees(setting, explicit):
                return setting
    return settings[0]


def build_treatment(args: argparse.Namespace, lm: LoadedModel) -> Treatment | None:
    """The exits the options ask for, resolved against `lm`; whether the probe's guarantee covers the run is in
    `Treatment.guarantee` (`covers_run`, `coverage`), for the CLI to say once."""
    from cotexit.calibration.shift import settings_coverage
    from cotexit.cli.common import cue_config, decode_config
    from cotexit.probes.coverage import calibration_first_cue_scores, certified_settings

    exits = run_exits(args)
    if exits is None:
        return None
    if exits.layer_exit is not None and exits.layer_exit.mode == "exact" and args.temperature > 0:
        raise ValueError("--layer-exit exact is greedy only (it reproduces greedy decoding); use --temperature 0")
    resolved = exits.resolve(lm)  # the probe checked against the model, the depth setting against its layers
    guarantee, shift_reference, settings_note = {}, None, None
    if resolved.probe is not None:
        artifact = resolved.probe.artifact
        cues = cue_config(args, resolved.probe.cues)
        settings_note, setting = settings_coverage(
            certified_settings(artifact), decode_config(args).to_json(), args.dtype, artifact.cues,
            cues.to_json(),
        )
        guarantee = probe_guarantee(artifact, exits.layer_exit, args, cues, settings_note, setting)
        shift_reference = calibration_first_cue_scores(artifact, setting)
        if shift_reference is None:  # no evidence kept: the check reports it cannot test
            shift_reference = np.zeros(0)
    if args.baseline:
        guarantee = {"mode": "none", "guarantee": f"baseline {args.baseline}: no statistical guarantee"}
    return Treatment(
        name=exits.name,
        settings=exit_settings(args),
        policies=resolved.policies,
        engine=resolved.step_forward,
        guarantee=guarantee,
        shift_reference=shift_reference,
        settings_shift=settings_note,
    )


def probe_guarantee(
    artifact: Any,
    depth: LayerExitConfig | None,
    args: argparse.Namespace,
    cues: CueConfig | None = None,
    settings_note: str | None = None,
    setting: str | None = None,
) -> dict[str, Any]:
    """The artifact's calibration record, with whether its certificate covers this run: its depth setting, its
    decoding and dtype (`settings_note`: how the run differs from every certified setting, from `settings_coverage`),
    its threshold, and its cue set (`setting`: the name of the certified setting the run is, when it is one)
    (`cues`: what the run watches)."""
    from cotexit.probes.coverage import coverage

    guarantee = {k: v for k, v in artifact.calibration.items() if k != "arms"}
    covered, why = coverage(artifact, depth.to_json() if depth else None, args.temperature)
    if covered and settings_note:
        covered, why = False, settings_note
    if cues is not None and cues != artifact_cues(artifact):
        covered, why = False, (
            f"this run watches cues {list(cues.phrases)}, the probe was calibrated on {list(artifact.cues['phrases'])} "
            "(--cues): its guarantee holds on its own cue set only"
        )
    if args.probe_threshold is not None:
        covered, why = False, f"threshold overridden to {args.probe_threshold}: the calibrated guarantee does not apply"
        guarantee["note"] = why
    if covered and setting is not None:  # a probe certified over several settings: which one this run is
        why = f"this run is the certified setting {setting} (decoding and dtype); {why}"
        guarantee["setting"] = setting
    guarantee["covers_run"] = covered
    guarantee["coverage"] = why
    guarantee["certificate"] = (
        "sealed; digests checked at load (`cotexit verify` recomputes the threshold)" if artifact.certificate
        else "none: the artifact predates certificates and cannot be re-checked"
    )
    return guarantee
