"""seriespub: publish a newsletter series from Markdown drafts, exactly once per reader."""

__version__ = "0.1.0"
