"""Check the built documentation as a reader meets it: every internal link resolves, and the pages render in a
real browser.

    python docs/check_site.py docs/_build/html --screenshots docs/_build/screenshots

- **Links.** Every ``href`` and ``src`` of every HTML page of the built site that points inside it (a relative
  path, with or without ``#fragment``) must name a file that exists, and a ``#fragment`` must name an ``id``
  (or ``name``) on the target page. External links (``http:``, ``https:``, ``mailto:``) are not fetched.
- **Pages.** The index, the concepts page (its diagram and maths), one tutorial and one API page must exist; each is opened in headless Chromium (Debian's
  ``chromium``) and saved as a screenshot, to be looked at. Without Chromium, the screenshots are skipped and
  said so (exit 0 only when the links are sound).

Exit code: 0 when every check passes, 1 when a link is broken or a page is missing, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["internal_links", "broken_links", "key_pages", "screenshot", "chromium", "main"]

EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "ftp:")


class _Refs(HTMLParser):
    """The link targets and the anchors (ids, names) of one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag != "meta" else ():
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            v = a.get(key)
            if v and not (tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch")):
                self.refs.append(v)


def _parse(page: Path) -> _Refs:
    p = _Refs()
    p.feed(page.read_text(encoding="utf-8", errors="replace"))
    return p


def internal_links(site: Path):
    """Yield (page, href, target file, fragment) for every link of every page that points inside the site."""
    for page in sorted(site.rglob("*.html")):
        for href in _parse(page).refs:
            if href.startswith(EXTERNAL) or href.startswith("//"):
                continue
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                continue
            path = unquote(parts.path)
            target = page if not path else (page.parent / path)
            if path.endswith("/"):
                target = target / "index.html"
            yield page, href, target.resolve(), parts.fragment


def broken_links(site: Path) -> list[str]:
    """One line per internal link whose file is missing, or whose #fragment is not an anchor of its page."""
    site = Path(site).resolve()
    anchors: dict[Path, set] = {}
    bad = []
    for page, href, target, frag in internal_links(site):
        where = page.relative_to(site)
        if not target.exists():
            bad.append(f"{where}: {href} -> missing file")
            continue
        if site not in target.parents and target != site:
            bad.append(f"{where}: {href} -> outside the site")
            continue
        if frag and target.suffix == ".html":
            if target not in anchors:
                anchors[target] = _parse(target).ids
            if unquote(frag) not in anchors[target]:
                bad.append(f"{where}: {href} -> no anchor #{frag} on {target.relative_to(site)}")
    return bad


def key_pages(site: Path) -> dict[str, Path | None]:
    """The pages a reader opens first: the index, the first tutorial of the gallery, one API page."""
    site = Path(site)
    tutorials = sorted(p for p in site.glob("auto_tutorials/plot_*.html"))
    api = sorted(p for p in site.rglob("*.html") if "api" in p.parts or p.parent.name.startswith("generated"))
    api = [p for p in api if p.name == "verify.html"] or [p for p in api if p.name != "index.html"] or api
    concepts = site / "concepts.html"
    return {"index": site / "index.html" if (site / "index.html").exists() else None,
            "concepts": concepts if concepts.exists() else None,
            "tutorial": tutorials[0] if tutorials else None,
            "api": api[0] if api else None}


def chromium() -> str | None:
    """The headless browser: Debian's chromium (or chromium-browser, google-chrome), None when absent."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(browser: str, page: Path, out: Path, *, width: int = 1280, height: int = 1600) -> Path:
    """Open ``page`` in headless Chromium and save a PNG of it at ``out``; raises RuntimeError when no image came."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               "--virtual-time-budget=4000", f"--screenshot={out}", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot of {page}: {proc.stderr.strip()[-500:]}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python docs/check_site.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", help="the built HTML site (e.g. docs/_build/html)")
    ap.add_argument("--screenshots", metavar="DIR", help="save a screenshot of each key page here")
    args = ap.parse_args(argv)
    site = Path(args.site)
    if not (site / "index.html").exists():
        print(f"error: {site} holds no index.html: build the site first", file=sys.stderr)
        return 2
    ok = True
    bad = broken_links(site)
    n = sum(1 for _ in internal_links(site))
    print(f"internal links: {n} checked, {len(bad)} broken")
    for line in bad[:50]:
        print("  " + line)
    ok &= not bad
    pages = key_pages(site)
    for name, page in pages.items():
        if page is None:
            print(f"missing page: no {name} page in {site}")
            ok = False
    if args.screenshots:
        browser = chromium()
        if browser is None:
            print("screenshots skipped: no chromium on PATH (Debian: apt-get install chromium)")
        else:
            for name, page in pages.items():
                if page is not None:
                    tall = 6000 if name in ("tutorial", "concepts") else 1600      # down to the figures
                    png = screenshot(browser, page, Path(args.screenshots) / f"{name}.png", height=tall)
                    print(f"screenshot of {page.relative_to(site)}: {png}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
