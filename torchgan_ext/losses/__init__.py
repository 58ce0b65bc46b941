"""losses of torchgan-ext."""

from .hinge import HingeDiscriminatorLoss, HingeGeneratorLoss

__all__: list[str] = ["HingeGeneratorLoss", "HingeDiscriminatorLoss"]
