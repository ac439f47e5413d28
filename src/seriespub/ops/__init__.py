"""Operations: one module per command group, each a library call the CLI renders (no typer, no rich)."""
