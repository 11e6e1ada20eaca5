"""The tour (demos/tour.py --quick) and its gallery page, rendered in headless Chromium.

The tour runs once here (tests/test_demos.py leaves it out): its PNGs, metrics.json and
index.html are checked as files, then the page is loaded in Chromium (Debian's
``chromium``; ``.ci/run`` installs it) inside a harness page that reads the rendered DOM:
every image decoded (naturalWidth > 0), every stage's section with its metrics, and
every link resolved by the browser and fetched — in-page anchors must name an element,
links to docs/*.md must reach the file and a heading of that name. The same checker is
first shown to catch a broken image, a broken link and a bad anchor on a control page.
A screenshot goes to tmp_path. Without Chromium the browser half is skipped, with the
reason. Nothing is installed by the tests.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'demos'))
import _gallery  # noqa: E402

STAGES = ['naive_bayes', 'vae', 'gan', 'flow', 'diffusion', 'gpt', 'compare', 'autograd']
FAMILIES = ['naive Bayes', 'VAE', 'autoregressive (models/flows)', 'GAN', 'real images']
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


def _tour(out, *extra):
    env = dict(os.environ, MPLBACKEND='Agg')
    return subprocess.run([sys.executable, str(ROOT / 'demos' / 'tour.py'), '--quick', '--out',
                           str(out), *extra], capture_output=True, text=True, timeout=600,
                          env=env, cwd=ROOT)


# The harness: loads each page in an iframe (file:// pages may read each other with
# --allow-file-access-from-files), then writes what the browser saw into #result.
HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<iframe id="page" src="PAGE" width="1200" height="900"></iframe>
<iframe id="control" src="CONTROL" width="600" height="300"></iframe>
<script>
function slug(h) {
  return h.trim().toLowerCase().replace(/[^\\p{L}\\p{N}_\\- ]/gu, '').replace(/ /g, '-');
}
function fetchText(url) {
  return new Promise(resolve => {
    const x = new XMLHttpRequest();
    x.onload = () => resolve(x.responseText);
    x.onerror = () => resolve(null);
    try { x.open('GET', url); x.send(); } catch (e) { resolve(null); }
  });
}
async function inspect(frame) {
  const d = frame.contentDocument, r = {};
  r.images = [...d.images].map(i => ({src: i.getAttribute('src'), width: i.naturalWidth}));
  r.sections = [...d.querySelectorAll('section[id]')].map(s => ({
    id: s.id, status: s.dataset.status,
    metrics: [...s.querySelectorAll('[data-metric]')].map(m => m.dataset.metric),
    families: [...s.querySelectorAll('[data-family]')].map(m => m.dataset.family)}));
  r.links = [];
  for (const a of d.querySelectorAll('a[href]')) {
    const url = new URL(a.href), base = url.href.split('#')[0], frag = decodeURIComponent(url.hash.slice(1));
    let ok;
    if (base === d.URL.split('#')[0]) {
      ok = !frag || d.getElementById(frag) !== null;
    } else {
      const text = await fetchText(base);
      ok = text !== null && (!frag || text.split('\\n').some(
        l => /^#+ /.test(l) && slug(l.replace(/^#+ /, '')) === frag));
    }
    r.links.push({href: a.getAttribute('href'), resolved: a.href, ok: ok});
  }
  return r;
}
let loaded = 0;
async function done() {
  if (++loaded < 2) return;
  const out = {};
  try {
    out.page = await inspect(document.getElementById('page'));
    out.control = await inspect(document.getElementById('control'));
  } catch (e) { out.error = String(e); }
  document.getElementById('result').textContent = JSON.stringify(out);
}
document.getElementById('page').onload = done;
document.getElementById('control').onload = done;
</script></body></html>
"""

CONTROL = """<!DOCTYPE html><html><body><section id="s">
<img src="good.png"><img src="missing.png">
<a href="#s">here</a><a href="#nowhere">bad anchor</a><a href="missing.md">missing file</a>
<a href="ok.md#a-heading">good heading</a><a href="ok.md#no-such-heading">bad heading</a>
</section></body></html>"""


def _chromium(*args, timeout=120):
    return subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
                           '--allow-file-access-from-files', *args],
                          capture_output=True, text=True, timeout=timeout)


def _render(page, tmp_path):
    """What Chromium saw of ``page`` and of the control page."""
    control = tmp_path / 'control'
    control.mkdir()
    shutil.copy(page.parent / 'tour_fit.png', control / 'good.png')
    (control / 'ok.md').write_text('# A heading\n\ntext\n')
    (control / 'index.html').write_text(CONTROL)
    harness = tmp_path / 'harness.html'
    harness.write_text(HARNESS.replace('PAGE', page.as_uri())
                       .replace('CONTROL', (control / 'index.html').as_uri()))
    run = _chromium('--virtual-time-budget=20000', '--dump-dom', harness.as_uri())
    m = re.search(r'<pre id="result">(.*?)</pre>', run.stdout, re.S)
    assert m and m.group(1) != 'pending', f"the harness did not report:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    import html
    result = json.loads(html.unescape(m.group(1)))
    assert 'error' not in result, result['error']
    return result['page'], result['control']


def test_gallery_escapes_and_links(tmp_path):
    """Text is escaped (no markup gets through), and docs links are relative paths from
    the page's folder that reach the repository's docs/ from anywhere."""
    nasty = '<script>alert(1)</script> & "quotes"'
    section = dict(key='x', title=nasty, status='failed', error=nasty, seconds=1.0, blurb=nasty,
                   metrics=[(nasty, nasty, nasty, None)], images=[('a.png', nasty)], text=nasty,
                   command=nasty, docs=('docs/vae.md', 'Results', nasty))
    out = tmp_path / 'deep' / 'er'
    out.mkdir(parents=True)
    page = pathlib.Path(_gallery.write_page(str(out), nasty, [nasty], [section], footer=[nasty]))
    text = page.read_text()
    assert '<script>' not in text and '&lt;script&gt;' in text
    href = re.search(r'<a href="([^"]+vae\.md[^"]*)"', text).group(1)
    assert not href.startswith(('/', 'file:')) and href.endswith('vae.md#results')
    assert (out / href.split('#')[0]).resolve() == (ROOT / 'docs' / 'vae.md').resolve()
    assert _gallery.slug("Character-level language model on Python's own source code") == \
        'character-level-language-model-on-pythons-own-source-code'


def test_tour_failing_stage_is_shown(tmp_path):
    """A failing stage is shown as failed with its error; the others still run; exit 1."""
    run = _tour(tmp_path, '--only', 'gan,vae', '--fail', 'gan')
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    text = (tmp_path / 'index.html').read_text()
    assert re.search(r'<section id="gan" data-status="failed">', text)
    assert 'failed on purpose' in text
    assert re.search(r'<section id="vae" data-status="passed">', text)
    metrics = json.loads((tmp_path / 'metrics.json').read_text())
    assert metrics['failed'] == ['gan'] and metrics['results']['vae']['status'] == 'passed'


def test_tour_quick_page_in_chromium(tmp_path):
    out = tmp_path / 'tour'
    run = _tour(out)
    assert run.returncode == 0, f"tour failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert 'stages passed' in run.stdout

    # the files: metrics.json with every stage passed, the page and its PNGs
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['failed'] == [] and list(metrics['results']) == STAGES
    assert all(r['numbers'] for r in metrics['results'].values())
    page = out / 'index.html'
    text = page.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert len(srcs) >= len(STAGES)
    for src in srcs:
        assert '/' not in src and (out / src).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', src
    assert '<script' not in text.lower()          # static: readable without JavaScript
    assert not re.search(r'(src|href)="(https?:)?//', text)   # and without the network

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run does "
                    "it): the tour's files were checked, the page was not rendered")

    seen, control = _render(page, tmp_path)
    # the checker catches what it should, on the control page
    assert [i['width'] > 0 for i in control['images']] == [True, False]
    assert [link['ok'] for link in control['links']] == [True, False, False, True, False]

    # every image decoded
    assert len(seen['images']) == len(srcs)
    broken = [i['src'] for i in seen['images'] if not i['width'] > 0]
    assert not broken, f"images that did not load: {broken}"
    # every stage's section, passed, with its metrics; the table with every family
    sections = {s['id']: s for s in seen['sections']}
    for name in STAGES:
        assert name in sections, f"no section {name!r} on the page"
        assert sections[name]['status'] == 'passed'
        if name != 'compare':
            assert len(sections[name]['metrics']) >= 2, (name, sections[name]['metrics'])
    assert set(FAMILIES) <= set(sections['compare']['families'])
    # no broken link: anchors name an element, docs pages exist and have the heading
    links = seen['links']
    assert {f"#{name}" for name in STAGES} <= {link['href'] for link in links}
    assert sum('docs/' in link['resolved'] for link in links) >= len(STAGES)
    bad = [link for link in links if not link['ok']]
    assert not bad, f"broken links: {bad}"

    shot = tmp_path / 'tour_gallery.png'
    _chromium('--hide-scrollbars', '--window-size=1200,2400', f'--screenshot={shot}',
              page.as_uri())
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('doc', ['docs/index.md', 'README.md'])
def test_markdown_links_resolve(doc):
    """Every relative link of docs/index.md and the README reaches a file, and a link to
    a section of a docs page names one of its headings (GitHub's anchors)."""
    path = ROOT / doc
    links = re.findall(r'\]\(([^)\s]+)\)', path.read_text(encoding='utf-8'))
    assert links
    for link in links:
        if re.match(r'[a-z]+:', link):
            continue
        target, _, anchor = link.partition('#')
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{doc}: link {link!r} reaches no file"
        if anchor:
            headings = re.findall(r'^#+ (.+)$', file.read_text(encoding='utf-8'), re.M)
            assert anchor in {_gallery.slug(h) for h in headings}, f"{doc}: no heading for {link!r}"
