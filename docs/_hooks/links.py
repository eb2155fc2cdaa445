"""MkDocs hook: links from a page to files beside docs/ become links to the site's pages.

docs/distributed.md (kept readable on GitHub) links ``../benchmarks/RESULTS.md``; on the site
that file is summarized by performance.md, so the link points there.
"""
from __future__ import annotations

OUTSIDE = {"../benchmarks/RESULTS.md": "performance.md"}


def on_page_markdown(markdown, page, config, files):
    for target, page_path in OUTSIDE.items():
        depth = page.file.src_uri.count("/")
        markdown = markdown.replace(f"]({target})", f"]({'../' * depth}{page_path})")
    return markdown
