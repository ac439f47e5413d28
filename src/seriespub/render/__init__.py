"""Instalment → HTML and text email, rendered once and addressed per recipient."""

# The names the template is given; front-matter keys may not take them. Here, not in
# `templating`, so reading a draft's front matter does not import the renderer.
TEMPLATE_VARIABLES = frozenset(
    {"series", "instalment", "next", "content", "unsubscribe_url", "subscriber", "words"}
)
