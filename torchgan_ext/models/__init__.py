"""models of torchgan-ext."""

__all__: list[str] = []
