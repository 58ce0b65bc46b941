"""layers of torchgan-ext."""

__all__: list[str] = []
