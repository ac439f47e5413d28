"""The series on the web: a static archive, an Atom feed and "view in browser" URLs.

Guarantees
    - Only released parts are published: a ready draft whose send has started (the ledger
      records it) or whose release slot has passed. A draft (`status: draft`) never is.
    - Merge fields show their defaults; no subscriber data is read, so none can be written.
    - A part's URL never changes once published: `NN-slug/`, the slug recorded in
      `.seriespub/site.json` the first time (from the draft's file name, not its title).
    - A sent part's page never goes silently: a part the ledger records as started (fully or
      partly sent) whose draft is missing stops the build before anything is written.
    - The same drafts, ledger, settings and `site.json` give byte-identical files: a
      release date comes from the ledger or the calendar; the only build time written is
      that of the build that first published an edit to a part (`edits`), kept in
      `site.json`, so a rebuild with nothing new changes no byte.

Modules: `urls` (slugs and page URLs), `content` (what is released, rendered), `edits` (when
a part last changed as readers see it), `pages` (HTML),
`feed` (Atom and sitemap), `build` (writes the folder), `serve` (127.0.0.1 only).
"""
