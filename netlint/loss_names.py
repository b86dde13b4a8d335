"""The classification losses netlint knows, by what they expect as input (logits, log-probabilities,
probabilities): shared by the loader, which finds them in the checked files, and NL013, which pairs
them with the model's output. Plain data; imports nothing."""

#: Qualified name -> the name a message shows, per what the loss expects as input.
LOGITS_LOSSES = {
    "torch.nn.CrossEntropyLoss": "nn.CrossEntropyLoss",
    "torch.nn.functional.cross_entropy": "F.cross_entropy",
    "torch.nn.BCEWithLogitsLoss": "nn.BCEWithLogitsLoss",
    "torch.nn.functional.binary_cross_entropy_with_logits": "F.binary_cross_entropy_with_logits",
}
LOG_PROBABILITY_LOSSES = {"torch.nn.NLLLoss": "nn.NLLLoss", "torch.nn.functional.nll_loss": "F.nll_loss"}
PROBABILITY_LOSSES = {
    "torch.nn.BCELoss": "nn.BCELoss",
    "torch.nn.functional.binary_cross_entropy": "F.binary_cross_entropy",
}
