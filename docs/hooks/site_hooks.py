"""MkDocs hooks of the bakemigrate site.

- The command-line reference is written from ``bakemigrate.cli.build_parser()`` at build time, so
  it always shows the options the installed ``bakemigrate`` really has.
- The notebook page is rendered by mkdocs-jupyter, whose template adds MathJax and Mermaid loaders
  that point at a public CDN. The record uses neither, and the site must load nothing from outside,
  so those loaders are removed from the rendered page.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

CLI_MARKER = "<!-- cli-reference -->"
HELP_WIDTH = "88"

# A <script src="http..."> element, or one with an empty src (the MathJax loader when no URL is
# set), and the inline module that imports Mermaid from a CDN.
_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"(?:https?://[^\"]*)?\"[^>]*>\s*</script>", re.IGNORECASE)
_CDN_MODULE = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*?https?://(?:(?!</script>).)*?</script>",
    re.IGNORECASE | re.DOTALL,
)


@contextmanager
def _help_width() -> Iterator[None]:
    """Render argparse help at a fixed width, whatever the terminal of the build."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_reference_markdown() -> str:
    """Markdown of ``bakemigrate --help`` and of every subcommand's ``--help``."""
    from bakemigrate.cli import build_parser

    parser = build_parser()
    with _help_width():
        parts = ["## bakemigrate", "", "```text", parser.format_help().rstrip(), "```", ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    parts += [f"## bakemigrate {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001
    """Fill the command-line reference page."""
    if CLI_MARKER in markdown:
        return markdown.replace(CLI_MARKER, cli_reference_markdown())
    return markdown


def strip_cdn_loaders(html: str) -> str:
    """Remove script elements that would load code from another host."""
    html = _EXTERNAL_SCRIPT.sub("", html)
    return _CDN_MODULE.sub("", html)


def on_post_page(output: str, page, config) -> str:  # noqa: ANN001
    """Keep every page self-contained: no script from another host."""
    return strip_cdn_loaders(output)
