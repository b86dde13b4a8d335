"""What netlint knows about torch and its libraries without importing them.

The syntax-tree scan (scan.py) asks two questions about a dotted name from outside the user's project:
is this a torch.nn.Module class (a base), and does a call to it build a model. Names of torch and of
the known packages are decided here; other library names are left to an import of that library.
"""

from __future__ import annotations

import sys

# Packages of the torch ecosystem: importing one makes a file a torch file.
TORCH_PACKAGES = frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "timm", "transformers", "lightning",
    "pytorch_lightning", "monai", "segmentation_models_pytorch", "mmcv", "mmengine", "detectron2",
    "torch_geometric", "kornia", "open_clip", "diffusers", "peft", "accelerate", "torchmetrics",
})  # fmt: skip
# Packages known to hold no nn.Module classes: their classes are decided without importing them.
NOT_TORCH = frozenset(sys.stdlib_module_names) | {
    "builtins", "typing_extensions", "numpy", "pandas", "scipy", "sklearn", "matplotlib", "seaborn", "PIL",
    "cv2", "pydantic", "attr", "attrs", "yaml", "omegaconf", "hydra", "tqdm", "wandb", "h5py", "requests",
}  # fmt: skip

# torch.nn classes that hold no parameter with their default arguments: an instance is not a model.
_NN_PARAMETER_FREE = frozenset({
    "Identity", "Flatten", "Unflatten", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Fold", "Unfold", "CosineSimilarity",
    "PairwiseDistance", "LocalResponseNorm", "CrossMapLRN2d", "Softmax", "Softmax2d", "Softmin",
    "LogSoftmax", "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
    "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "Hardshrink", "Softshrink", "Tanhshrink", "Softplus",
    "Softsign", "LogSigmoid", "Threshold", "RReLU", "GLU", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
})  # fmt: skip
_NN_PARAMETER_FREE_PARTS = ("Loss", "Dropout", "Pool", "Unpool", "Pad")  # CrossEntropyLoss, Dropout2d, MaxPool2d
_NN_LEARNED_LOSSES = frozenset({"AdaptiveLogSoftmaxWithLoss", "LinearCrossEntropyLoss"})  # losses with weights
# torch.nn names that are not layers (or hold layers but have no forward): a call to one is not a model.
_NN_NOT_MODELS = frozenset({
    "Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "ModuleList", "ModuleDict",
    "ParameterList", "ParameterDict", "Container",
})  # fmt: skip
_NN_NOT_MODULE_CLASSES = frozenset({"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"})
_NN_CONTAINERS = frozenset({"Sequential", "DataParallel", "DistributedDataParallel"})  # a model when a layer is inside
# Calls that return the model they are given.
_WRAPPERS = frozenset({
    "torch.compile", "torch.jit.script", "torch.jit.trace", "torch.jit.freeze", "torch.fx.symbolic_trace",
    "copy.deepcopy",
})  # fmt: skip
SELF_METHODS = frozenset({
    "to", "cuda", "cpu", "eval", "train", "float", "half", "double", "bfloat16", "requires_grad_", "apply",
    "type", "share_memory", "to_empty",
})  # fmt: skip
# torch classes that are modules although they live outside torch.nn.
_TORCH_MODULE_CLASSES = frozenset({
    "torch.jit.ScriptModule", "torch.jit.RecursiveScriptModule", "torch.fx.GraphModule",
    "torch.nn.Module", "torch.nn.modules.module.Module",
})  # fmt: skip
# torch namespaces whose classes are never modules (datasets, optimizers, autograd functions...).
_TORCH_NOT_MODULES = ("torch.utils", "torch.autograd", "torch.optim", "torch.distributions", "torch.Tensor",
                      "torch.multiprocessing", "torch.cuda", "torch.backends", "torch.testing")  # fmt: skip
_TV_NOT_MODELS = ("torchvision.transforms", "torchvision.datasets", "torchvision.io", "torchvision.utils")
_TV_MODEL_HELPERS = frozenset({"get_weight", "get_model_weights", "list_models", "get_model_builder"})
_TIMM_FACTORIES = frozenset({"create_model"})
_TIMM_MODEL_HELPERS = frozenset({"list_models", "is_model", "model_entrypoint"})
_TIMM_NOT_MODELS = frozenset({"data", "optim", "scheduler", "loss", "utils"})
# Classmethods of the auto classes of transformers (AutoModel, AutoModelForCausalLM, AutoBackbone) and
# diffusers (AutoModel) build the model class a configuration names; the auto classes are not modules.
_AUTO_MODEL_PACKAGES = frozenset({"transformers", "diffusers"})
_AUTO_MODEL_FACTORIES = frozenset({"from_config", "from_pretrained"})


def parameter_free(name: str) -> bool:
    """A torch.nn class whose instance holds no parameter with its default arguments (ReLU, MSELoss)."""
    if name in _NN_LEARNED_LOSSES:
        return False
    return name in _NN_PARAMETER_FREE or any(part in name for part in _NN_PARAMETER_FREE_PARTS)


def class_verdict(dotted: str) -> bool | None:
    """Whether ``dotted`` is a torch.nn.Module class, or None when only importing its library can tell."""
    if dotted in _TORCH_MODULE_CLASSES:
        return True
    if dotted.startswith(("torch.nn.", "torch.ao.nn.")):
        last = dotted.rsplit(".", 1)[1]
        return last[:1].isupper() and last not in _NN_NOT_MODULE_CLASSES
    if dotted.split(".")[0] in NOT_TORCH or dotted.startswith(_TORCH_NOT_MODULES):
        return False
    return None


def call_kind(dotted: str) -> str:
    """What a call to ``dotted`` builds: "model", "none", "container" (a model when a layer is inside),
    "wrapper" (the model it is given), "library" (a model if ``dotted`` is a module class of an installed
    library), "factory" (``Model.from_config``: a model if it is a classmethod or staticmethod of a
    module class of an installed library) or "function" (``nets.resnet18()``: perhaps a model if it is a
    function of an installed library that uses torch; the value built decides)."""
    parts = dotted.split(".")
    last = parts[-1]
    if dotted in _WRAPPERS:
        return "wrapper"
    if dotted.startswith(("torch.nn.", "torch.ao.nn.")) and len(parts) > 2:
        if not last[:1].isupper() or last in _NN_NOT_MODELS or parameter_free(last):
            return "none"
        return "container" if last in _NN_CONTAINERS else "model"
    if parts[0] == "torchvision":
        if dotted.startswith(_TV_NOT_MODELS):
            return "none"
        if len(parts) < 3 or parts[1] != "models":
            return "library"  # torchvision.ops.FeaturePyramidNetwork
        helper = last in _TV_MODEL_HELPERS or any(p.endswith("Weights") for p in parts)
        return "none" if helper else "model"
    if parts[0] == "timm":
        if last in _TIMM_FACTORIES or (len(parts) > 2 and parts[1] == "models" and last[:1].islower()):
            return "none" if last in _TIMM_MODEL_HELPERS else "model"
        return "none" if len(parts) > 1 and parts[1] in _TIMM_NOT_MODELS else "library"
    if parts[0] == "torch":
        return "model" if dotted in _TORCH_MODULE_CLASSES else "none"
    auto = len(parts) > 2 and (parts[-2].startswith("AutoModel") or parts[-2] == "AutoBackbone")
    if parts[0] in _AUTO_MODEL_PACKAGES and auto and last in _AUTO_MODEL_FACTORIES:
        return "model"
    if parts[0] in NOT_TORCH:
        return "none"
    if len(parts) > 2 and parts[-2][:1].isupper() and not last[:1].isupper():
        return "factory"  # smp.Unet.from_pretrained(...), BertModel.from_pretrained(...)
    if not last[:1].isupper():
        return "function"  # smp.create_model(...), monai.networks.nets.resnet18(...)
    return "library"  # smp.Unet(...): a class of an installed library
