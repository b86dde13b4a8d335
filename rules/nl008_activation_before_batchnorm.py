from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Op
from netlint.source import shown_path

from ._common import activation_name


class ActivationBeforeBatchNorm(Rule):
    """
    ## What it does
    Finds conv/linear -> activation -> BatchNorm, where each step feeds only the next, instead of
    the order conv/linear -> BatchNorm -> activation. Not selected by default: opt in with
    `--extend-select NL008` (or `extend-select = ["NL008"]` in the configuration).

    ## Why is this bad?
    It may not be. Ioffe & Szegedy place BatchNorm before the nonlinearity, normalising the
    pre-activation "since it is more likely to have a symmetric, non-sparse distribution", and
    nearly every reference model (ResNet, its pre-activation variant, MobileNet, EfficientNet)
    follows that order, so a model that does not is often a transcription mistake, and its
    pretrained weights or hyper-parameters from the literature will not transfer. On the other
    side, Mishkin et al.'s systematic ImageNet evaluation found BatchNorm after the ReLU slightly
    better, and practitioners report both orders working. The evidence is mixed, hence an opt-in,
    informational rule: use it to enforce a house style or to catch an unintended order.

    ## Example
    ```python
    self.block = nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(64),  # NL008: activation before BatchNorm
    )
    ```

    ## How to fix
    If the order is unintended, swap the activation and the BatchNorm:
    `Conv2d -> BatchNorm2d -> ReLU`. If it is intended, leave it: the rule is off by default.

    ## References
    - S. Ioffe, C. Szegedy. "Batch Normalization: Accelerating Deep Network Training by Reducing
      Internal Covariate Shift", ICML 2015, section 3.2. https://arxiv.org/abs/1502.03167
    - D. Mishkin, N. Sergievskiy, J. Matas. "Systematic evaluation of convolution neural network
      advances on the ImageNet", CVIU 2017 (BatchNorm after the activation did slightly better).
      https://arxiv.org/abs/1606.02228
    - K. He, X. Zhang, S. Ren, J. Sun. "Identity Mappings in Deep Residual Networks", ECCV 2016
      (BatchNorm -> ReLU -> conv pre-activation). https://arxiv.org/abs/1603.05027
    """

    code = "NL008"
    name = "activation-before-batchnorm"
    severity = Severity.INFO
    summary = "conv/linear -> activation -> BatchNorm instead of conv/linear -> BatchNorm -> activation."
    default = False

    def check(self, graph: Graph) -> Iterator[Finding]:
        for bn in graph.ops(Op.BATCHNORM):
            inputs = bn.data_inputs
            if len(inputs) != 1 or inputs[0].op != Op.ACTIVATION or len(inputs[0].users) != 1:
                continue
            act = inputs[0]
            sources = act.data_inputs
            if len(sources) != 1 or sources[0].op not in (Op.CONV, Op.LINEAR) or len(sources[0].users) != 1:
                continue
            layer = sources[0]
            act_name = activation_name(act)
            yield self.finding(
                bn,
                f"{shown_path(layer.module)} -> {act_name} -> {shown_path(bn.module)}: the activation comes before "
                f"the BatchNorm, unlike the order of the BatchNorm paper and nearly all reference models.",
                f"If unintended, swap them: {layer.type_name} -> {bn.type_name} -> {act_name}.",
                related=[layer.module, act.module],
            )
