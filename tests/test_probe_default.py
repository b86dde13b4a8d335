"""When the probe runs by default: only where a static finding asks for a measurement."""

from __future__ import annotations

import json

import pytest

from netlint.config.policy import selected_rules
from netlint.findings import run_rules
from netlint.graph.inputs import parse_shape
from netlint.options import Options
from netlint.probing.budget import NOT_NEEDED, not_needed
from netlint.run.targets import check_targets

from .conftest import EXAMPLES, RULE_EXAMPLES, run_netlint

ASKING = ("NL001", "NL005", "NL006")


def test_the_decision_is_exactly_the_sites_of_nl001_nl005_nl006():
    """On every rule example and examples/: a model is probed by default iff NL001, NL005 or NL006 fires.

    The rules run on the graph directly, so that suppression comments in the examples do not hide a site.
    """
    targets = [str(p) for p in sorted(RULE_EXAMPLES.glob("*.py"))] + [str(EXAMPLES)]
    report = check_targets(targets, Options(probe=False, isolate=False))  # in this process: graphs kept
    assert not report.errors, [e.text for e in report.errors]
    rules = selected_rules(list(ASKING))
    asked = {m.name: any(f.code in ASKING for f in run_rules(m.graph, rules)) for m in report.models}
    decided = {m.name: not_needed(m.graph) is None for m in report.models}
    assert decided == asked
    assert sum(asked.values()) >= 5 and sum(not v for v in asked.values()) >= 10


def test_default_run_probes_the_models_that_ask_and_says_why_not_for_the_others():
    report = check_targets([str(EXAMPLES)], Options(device="cpu", probe_budget=0))
    assert not report.errors, [e.text for e in report.errors]
    probed = {m.name.rsplit(":", 1)[1] for m in report.models if m.probe is not None}
    assert probed == {"StochasticDepthNet", "VGGDropout"}
    for m in report.models:
        if m.probe is None:
            assert m.probe_note == f"not needed ({NOT_NEEDED})"
            assert m.to_dict()["probe"] == {"skipped": "not needed (no dropout reaches a BatchNorm)"}


def test_cli_default_and_forced():
    clean = str(EXAMPLES / "clean_resnet.py")  # a dropout in the head, after every BatchNorm
    default = run_netlint("check", clean)
    assert default.returncode == 0 and default.stdout.count("probe: not needed (no dropout reaches a BatchNorm)") == 1
    forced = run_netlint("check", clean, "--probe", "--probe-budget", "0", "--format", "json")
    forced = json.loads(forced.stdout)["models"][0]["probe"]
    assert {(x["ratio_min"], x["ratio_max"]) for x in forced["layers"]} == {(1.0, 1.0)}
    off = json.loads(run_netlint("check", clean, "--no-probe", "--format", "json").stdout)
    assert off["models"][0]["probe"] is None


def test_vgg16_bn_is_not_probed():
    pytest.importorskip("torchvision")
    report = check_targets(["torchvision.models:vgg16_bn"], Options(device="cpu"))
    [model] = report.models
    assert model.probe is None and model.probe_note == f"not needed ({NOT_NEEDED})"
    assert not report.errors


def test_densenet_with_dropout_is_probed():
    pytest.importorskip("torchvision")
    options = Options(device="cpu", select=["NL001"], input_shapes=[parse_shape("2,3,64,64")], batch_size=8,
                      probe_budget=0)  # fmt: skip
    report = check_targets(["torchvision.models:densenet121(drop_rate=0.2)"], options)
    [model] = report.models
    assert not report.errors
    assert model.probe is not None and model.probe_note is None
    assert any(x.shifted for x in model.probe.layers)
