"""The package version, in one place (the CLI, the server's OpenAPI and the User-Agent read it).
Keep it equal to ``version`` in ``packages/jina-clip/pyproject.toml``."""

__version__ = "0.1.0"
