"""Stage 3, rules: one rule per module, each a pure function of the graph; they import only the
graph stage (its IR and queries, never torch.fx) and the shared top-level modules. Installed as
``netlint.rules``.

To add a rule: write ``nlNNN_kebab_name.py`` with one ``Rule`` subclass whose docstring has the
sections of ``netlint.findings.DOC_HEADINGS``, add good and bad examples under ``examples/``,
list the class below, and regenerate ``docs/rules.md`` (``netlint rules --markdown``).
"""

from __future__ import annotations

from netlint.findings import Rule

from .nl001_dropout_before_batchnorm import DropoutBeforeBatchNorm
from .nl002_bias_before_batchnorm import BiasBeforeBatchNorm
from .nl003_dropout_between_convolutions import DropoutBetweenConvolutions
from .nl004_fc_head_instead_of_gap import FcHeadInsteadOfGap
from .nl005_drop_path_before_batchnorm import DropPathBeforeBatchNorm
from .nl006_dropout_active_at_inference import DropoutActiveAtInference
from .nl007_dropout_before_nonzero_activation import DropoutBeforeNonzeroActivation
from .nl008_activation_before_batchnorm import ActivationBeforeBatchNorm
from .nl009_batch_mixing import BatchMixing
from .nl010_batchnorm_reused import BatchNormReused
from .nl011_linear_collapse import LinearCollapse
from .nl012_parameters_without_gradient import ParametersWithoutGradient
from .nl013_probabilities_into_logits_loss import ProbabilitiesIntoLogitsLoss
from .nl014_kernel_sees_padding import KernelSeesPadding
from .nl015_stride_skips_input import StrideSkipsInput
from .nl900_unused_suppression import UnusedSuppression

ALL_RULES: tuple[type[Rule], ...] = (
    DropoutBeforeBatchNorm,
    BiasBeforeBatchNorm,
    DropoutBetweenConvolutions,
    FcHeadInsteadOfGap,
    DropPathBeforeBatchNorm,
    DropoutActiveAtInference,
    DropoutBeforeNonzeroActivation,
    ActivationBeforeBatchNorm,
    BatchMixing,
    BatchNormReused,
    LinearCollapse,
    ParametersWithoutGradient,
    ProbabilitiesIntoLogitsLoss,
    KernelSeesPadding,
    StrideSkipsInput,
    UnusedSuppression,
)

BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in ALL_RULES}
BY_NAME: dict[str, type[Rule]] = {rule.name: rule for rule in ALL_RULES}


def lookup(code_or_name: str) -> type[Rule] | None:
    return BY_CODE.get(code_or_name.upper()) or BY_NAME.get(code_or_name.lower())
