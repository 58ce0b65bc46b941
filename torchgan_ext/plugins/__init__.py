"""Built-in plugins of torchgan-ext (registered through the same hooks as third-party ones)."""

__all__: list[str] = []
