"""The tour's gallery page: one static HTML file next to its PNGs, readable offline with
no JavaScript and no network (demos/tour.py writes it; tests/test_tour_page.py opens it
in headless Chromium).

A section is a dict::

    key, title       anchor id and heading
    status, error    'passed' or 'failed' (and the error's text)
    seconds          wall time of the stage (cpu_seconds: its process CPU time)
    blurb            one paragraph of plain text
    images           [(file name beside the page, caption)]
    metrics          [(what, this run, docs value or target, met: True/False/None)]
    text             optional preformatted text (e.g. GPT samples)
    command          the command of the full demo
    docs             (docs page relative to the repository, its section's heading, label)

A section with ``columns`` and ``rows`` (lists of cells) instead of ``metrics`` is drawn
as a comparison table.

Every string is HTML-escaped here; links to the docs are relative from the page's folder
to the repository's docs/, so they work wherever --out is (on the same file system).
"""
import html
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
section { border-top: 1px solid #ccc; margin-top: 2em; padding-top: 0.5em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
figure { margin: 0.8em 0; }
figcaption { font-size: 0.9em; color: #555; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.95em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; }
.passed { color: #176317; font-weight: bold; }
.failed { color: #a31515; font-weight: bold; }
.met { color: #176317; } .missed { color: #a31515; }
.error { background: #fde8e8; border: 1px solid #e0a0a0; padding: 0.6em; white-space: pre-wrap; }
nav a { margin-right: 0.8em; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.6em; margin-top: 1em; }
.thumbs a { text-decoration: none; color: inherit; width: 255px; }
.thumbs figure { margin: 0; } .thumbs img { width: 255px; height: 170px; object-fit: contain; }
"""


def esc(value):
    """HTML-escaped text of any value (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def docs_href(out, relpath, anchor=''):
    """The link from a page in ``out`` to ``ROOT/relpath``: a relative path (it survives
    moving the repository together with its out/), or a file: URI where no relative path
    exists (another drive on Windows)."""
    target = os.path.join(ROOT, relpath)
    try:
        href = os.path.relpath(target, os.path.abspath(out)).replace(os.sep, '/')
    except ValueError:
        href = 'file:///' + os.path.abspath(target).replace(os.sep, '/').lstrip('/')
    return href + (f"#{anchor}" if anchor else '')


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces
    to hyphens."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def _docs_link(docs, out):
    path, heading, label = docs
    href = docs_href(out, path, slug(heading) if heading else '')
    return f'<p>Docs: <a href="{esc(href)}">{esc(label)}</a></p>'


def _metrics_table(rows):
    if not rows:
        return ''
    out = ['<table class="metrics"><tr><th>metric</th><th>this run</th>'
           '<th>docs page (full run) / target</th><th>met?</th></tr>']
    for what, value, reference, met in rows:
        mark = {True: '<span class="met">yes</span>', False: '<span class="missed">no</span>',
                None: ''}[met]
        out.append(f'<tr data-metric="{esc(what)}"><td>{esc(what)}</td><td class="num">'
                   f'{esc(value)}</td><td>{esc(reference)}</td><td>{mark}</td></tr>')
    out.append('</table>')
    return '\n'.join(out)


def _section(s, out):
    ok = s['status'] == 'passed'
    parts = [f'<section id="{esc(s["key"])}" data-status="{esc(s["status"])}">',
             f'<h2>{esc(s["title"])} <span class="{esc(s["status"])}">{esc(s["status"])}'
             f'</span></h2>',
             f'<p>wall time {s["seconds"]:.1f} s ({s.get("cpu_seconds", 0):.1f} s of CPU)</p>']
    if s.get('blurb'):
        parts.append(f'<p>{esc(s["blurb"])}</p>')
    if not ok:
        parts.append(f'<div class="error">{esc(s.get("error", ""))}</div>')
    parts.append(_metrics_table(s.get('metrics', [])))
    for name, caption in s.get('images', []):
        parts.append(f'<figure><img src="{esc(name)}" alt="{esc(caption)}">'
                     f'<figcaption>{esc(caption)}</figcaption></figure>')
    if s.get('text'):
        parts.append(f'<pre>{esc(s["text"])}</pre>')
    if s.get('command'):
        parts.append(f'<p>Full demo: <code>{esc(s["command"])}</code></p>')
    if s.get('docs'):
        parts.append(_docs_link(s['docs'], out))
    parts.append('</section>')
    return '\n'.join(p for p in parts if p)


def _numeric(cell):
    return bool(re.match(r'^[−\-]?[\d.]+$|^—$', str(cell)))


def _comparison(table, out):
    """table: a section with columns and rows [[cells]] instead of metrics."""
    parts = [f'<section id="{esc(table["key"])}" data-status="{esc(table["status"])}">',
             f'<h2>{esc(table["title"])} <span class="{esc(table["status"])}">'
             f'{esc(table["status"])}</span></h2>',
             f'<p>wall time {table["seconds"]:.1f} s ({table.get("cpu_seconds", 0):.1f} s of CPU)</p>',
             f'<p>{esc(table.get("blurb", ""))}</p>']
    if table['status'] != 'passed':
        parts.append(f'<div class="error">{esc(table.get("error", ""))}</div>')
    if table.get('rows'):
        parts.append('<table class="comparison"><tr>'
                     + ''.join(f'<th>{esc(c)}</th>' for c in table['columns']) + '</tr>')
        for row in table['rows']:
            cells = ''.join(f'<td class="num">{esc(c)}</td>' if _numeric(c) else f'<td>{esc(c)}</td>'
                            for c in row)
            parts.append(f'<tr data-family="{esc(row[0])}">{cells}</tr>')
        parts.append('</table>')
    for name, caption in table.get('images', []):
        parts.append(f'<figure><img src="{esc(name)}" alt="{esc(caption)}">'
                     f'<figcaption>{esc(caption)}</figcaption></figure>')
    if table.get('command'):
        parts.append(f'<p>Full demo: <code>{esc(table["command"])}</code></p>')
    if table.get('docs'):
        parts.append(_docs_link(table['docs'], out))
    parts.append('</section>')
    return '\n'.join(parts)


def write_page(out, title, intro, sections, footer=()):
    """Write ``out/index.html``; returns its path. ``sections`` in page order (one with
    ``columns`` and ``rows`` is drawn as the comparison table); ``intro`` and ``footer``:
    lists of plain-text paragraphs."""
    body = [f'<h1>{esc(title)}</h1>'] + [f'<p>{esc(p)}</p>' for p in intro]
    body.append('<nav>' + ''.join(f'<a href="#{esc(s["key"])}">{esc(s["title"])}</a>'
                                  for s in sections) + '</nav>')
    # the gallery at a glance: each section's first picture, linked to its section
    body.append('<div class="thumbs">' + ''.join(
        f'<a href="#{esc(s["key"])}"><figure><img src="{esc(s["images"][0][0])}" '
        f'alt="{esc(s["title"])}"><figcaption>{esc(s["title"])}</figcaption></figure></a>'
        for s in sections if s.get('images')) + '</div>')
    body += [_comparison(s, out) if 'columns' in s else _section(s, out) for s in sections]
    body.append('<section id="notes">' + ''.join(f'<p>{esc(p)}</p>' for p in footer) + '</section>')
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n'
            + '\n'.join(body) + '\n</body></html>\n')
    path = os.path.join(out, 'index.html')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(page)
    return path
