"""A model's static graph: its example input decided (given, declared or inferred) and the graph built on the meta device."""

from __future__ import annotations

from ..errors import NetlintError
from ..options import Options


def model_graph(spec, options: Options):
    """The graph of a loaded model (a ``ModelSpec``) and the input it was traced with."""
    from ..source import module_sites
    from .build import GraphFailure, build_graph
    from .scripted import in_python, tensors_on_meta

    model = spec.meta()
    sites = module_sites(spec.instance if spec.instance is not None else model, spec.sites)
    # TorchScript parts in Python first: the input is read from the layers and the forward they stand for.
    model, sites, materialize, scripted = in_python(model, sites, lambda: spec.real("cpu"))
    if scripted:
        tensors_on_meta(model)
    candidates = _input_candidates(model, spec, options)
    from .routing import routed
    from .unrun import trained_elsewhere

    try:
        graph, used = build_graph(spec.name, model, candidates, sites, materialize=materialize, scripted=scripted,
                                  real_cost=spec.real_cost)  # fmt: skip
    except GraphFailure as failure:
        raise _forward_error(spec.name, failure, model) from None
    # Code the recording did not run may train what it left without a gradient (NL012): another method or
    # a layer that tensor values did not pick this time (trained_elsewhere), or a branch on an argument left
    # at its default (trained_when_passed: it trains only when the argument is passed).
    elsewhere, optional = trained_elsewhere(model, graph, len(used.items))
    elsewhere = {**routed(model, graph), **elsewhere}
    graph.context["trained_elsewhere"] = elsewhere
    graph.context["trained_when_passed"] = {k: v for k, v in optional.items() if k not in elsewhere}
    return graph, used


def static_graph(model, inputs=None):
    """The graph of a model object and the input it was traced with (for the API's probe)."""
    from ..load.models import ModelSpec
    from ..state import preserved_rng
    from .inputs import from_values

    spec = ModelSpec(type(model).__name__, instance=model)
    options = Options(inputs=from_values(inputs, "inputs=") if inputs is not None else None)
    with preserved_rng(seed=0):
        graph, used = model_graph(spec, options)
    return graph, used


def _input_candidates(model, spec, options: Options):
    from .inputs import InputSpec, example_inputs_from, inferred, with_embedding_dtype

    given = None
    if options.inputs is not None:
        given = options.inputs
    elif (configured := options.model_inputs.get(spec.key)) and not options.input_shapes:
        given = InputSpec(tuple(with_embedding_dtype(model, list(configured))), "models in the configuration")
    elif options.input_shapes:
        given = InputSpec(tuple(with_embedding_dtype(model, list(options.input_shapes))), "--input-shape")
    else:
        given = example_inputs_from(model, spec.module, spec.name)
    if given is not None:
        _check_input_count(model, spec.name, given)
        return [given]
    candidates = inferred(model)
    if not candidates:
        raise NetlintError(
            spec.name,
            "cannot guess an example input: the model has no Conv, Linear, Embedding or RNN layer to infer it from.",
            "Pass --input-shape (e.g. --input-shape 2,3,224,224) or define example_inputs() in the model's file.",
        )
    return candidates


def _check_input_count(model, name: str, given) -> None:
    """More inputs than forward takes is an error, never silently dropped."""
    from .inputs import forward_arity

    names, _, most = forward_arity(model)
    if most is not None and len(given.items) > most:
        takes = f"{most} positional input{'s' if most != 1 else ''}" + (f" ({', '.join(names)})" if names else "")
        raise NetlintError(
            name,
            f"{len(given.items)} inputs were given ({given.source}) but {type(model).__name__}.forward takes {takes}.",
            "Give one --input-shape per positional input of forward (name=SHAPE options build one dict input).",
        )


def _forward_error(name: str, failure, model) -> NetlintError:
    from .build import RealBuildRefused
    from .inputs import keys_read
    from .shapes import ShapeMismatch

    attempts = failure.attempts
    first_spec, first_error = attempts[0]
    if failure.device:
        return NetlintError(
            name,
            f"the forward pass needs a GPU: {failure.device}.",
            "netlint builds and traces models on the meta device and the CPU, without a GPU, whatever --device "
            "says (that is the probe's): in forward, move tensors to the model's own device (x.to(self.conv.weight"
            ".device)) instead of x.cuda() or device='cuda'.",
        )
    refused = next((e for e in failure.errors if isinstance(e, RealBuildRefused)), None)
    if refused is not None:  # no input size helps: the meta device cannot run it, the CPU has no room
        return NetlintError(
            name,
            f"{refused} (input {first_spec.describe()}, {first_spec.source}).",
            refused.hint,
        )
    if failure.arity:
        return NetlintError(
            name,
            f"forward cannot be called with the inputs {first_spec.describe()} ({first_spec.source}): {failure.arity}.",
            "Pass one --input-shape per positional input of forward (e.g. --input-shape 2,3,32,32 --input-shape 2) "
            "or define example_inputs() in the model's file.",
        )
    # The sizes guessed from one layer, all refused by the same later layer for its channels:
    # no input size can help, the model itself cannot run.
    family = [e for (spec, _), e in zip(attempts, failure.errors) if spec.source == first_spec.source]
    places = {getattr(e, "where", "") for e in family}
    same = all(isinstance(getattr(e, "original", e), ShapeMismatch) for e in family) and len(places) == 1
    if len(family) > 1 and same and not any(getattr(e, "original", e).any_size for e in family):
        return NetlintError(
            name,
            f"the model cannot run: {first_error} (the same at all {len(family)} input sizes tried, "
            f"{first_spec.source}).",
            "PyTorch raises the same error; make the layer's size match what reaches it.",
        )
    tried = f" ({len(attempts)} input sizes tried, the first shown)" if len(attempts) > 1 else ""
    hint = (
        "Pass the right shape with --input-shape (once per positional input, e.g. --input-shape 2,3,224,224) "
        "or define example_inputs() in the model's file."
    )
    keys = keys_read(model)
    given = first_spec.items[0] if len(first_spec.items) == 1 else None
    if keys and not isinstance(given, dict):  # forward reads batch["image"]: one dict input, named shapes
        shape = ",".join(map(str, first_spec.templates[0].shape)) if first_spec.templates else ""
        if len(keys) == 1 and shape:
            named = f"--input-shape {keys[0]}={shape}"
        else:  # which entry feeds which layer is not known before the forward runs
            named = " ".join(f"--input-shape {k}=SHAPE" for k in keys)
            named += f" ({first_spec.source} takes {first_spec.describe()})" if shape else ""
        hint = (
            f"forward reads {', '.join(repr(k) for k in keys)} from its input, a dict: give each entry its shape, "
            f"e.g. {named}, or define example_inputs() in the model's file."
        )
    return NetlintError(
        name,
        f"the forward pass fails on the chosen input {first_spec.describe()} ({first_spec.source}){tried}: "
        f"{first_error}.",
        hint,
    )
