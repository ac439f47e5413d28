"""Operations: one module per command group, each a library call the CLI renders.

Nothing here imports typer or rich.
"""
