// The results browser page. Plain script, no build step. Every string that comes from the store (model output,
// object keys, run names, failure messages) is written with textContent or as an attribute value, never as HTML.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const PAGE = 24;
  const COLORS = ['#e11d48', '#2563eb', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

  // ---- COCO RLE (pycocotools compressed counts) --------------------------------------------------------------

  /**
   * Decodes a COCO compressed RLE string into run lengths (maskApi.c rleFrString): each count is a little-endian
   * sequence of 5-bit groups stored as chr(48 + group | 0x20 when more follow); bit 0x10 of the last group
   * sign-extends; counts from the fourth on are stored as the difference to the count two places earlier.
   */
  function decodeCocoRle(text) {
    const counts = [];
    let p = 0;
    while (p < text.length) {
      let x = 0;
      let k = 0;
      let more = true;
      while (more) {
        if (p >= text.length) {
          throw new Error('RLE string ends inside a count');
        }
        const c = text.charCodeAt(p) - 48;
        if (c < 0 || c > 63) {
          throw new Error('RLE string has a character outside the encoding at ' + p);
        }
        x |= (c & 0x1f) << (5 * k);
        more = (c & 0x20) !== 0;
        p++;
        k++;
        if (!more && (c & 0x10) !== 0) {
          x |= -1 << (5 * k);
        }
      }
      if (counts.length > 2) {
        x += counts[counts.length - 2];
      }
      counts.push(x);
    }
    return counts;
  }

  /**
   * Expands run lengths over an h x w mask stored column-major (runs alternate 0, 1, 0, ... starting with zeros)
   * into a row-major Uint8Array of 0/1, the layout canvas ImageData uses.
   */
  function rleToMask(counts, h, w) {
    const total = h * w;
    const mask = new Uint8Array(total);
    let pos = 0;
    let value = 0;
    for (const run of counts) {
      if (run < 0 || pos + run > total) {
        throw new Error('RLE runs do not fit a ' + h + 'x' + w + ' mask');
      }
      if (value === 1) {
        for (let i = pos; i < pos + run; i++) {
          const x = Math.floor(i / h);
          const y = i - x * h;
          mask[y * w + x] = 1;
        }
      }
      pos += run;
      value ^= 1;
    }
    return mask;
  }

  function hexToRgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  // ---- helpers ----------------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) {
      e.textContent = String(text);
    }
    if (className) {
      e.className = className;
    }
    return e;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      if (cell instanceof Node) {
        const td = document.createElement('td');
        td.appendChild(cell);
        tr.appendChild(td);
      } else {
        tr.appendChild(typeof cell === 'object' && cell !== null ? el('td', cell.text, cell.className) : el('td', cell));
      }
    }
    return tr;
  }

  function link(href, text) {
    const a = el('a', text);
    a.href = href;
    return a;
  }

  function fact(dl, name, value) {
    dl.appendChild(el('dt', name));
    dl.appendChild(el('dd', value));
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!response.ok) {
      let message = response.status + ' ' + response.statusText;
      try {
        const body = await response.json();
        if (body && body.error) {
          message = body.error;
        }
      } catch (e) {
        // Not JSON: keep the status line.
      }
      throw new Error(message);
    }
    return response.json();
  }

  function setStatus(text) {
    $('status').textContent = text || '';
  }

  function formatEta(summary) {
    if (summary.progress.pending === 0) {
      return summary.progress.listingCompleted ? 'done' : 'listing';
    }
    if (summary.etaSeconds === null || summary.etaSeconds === undefined) {
      return 'unknown';
    }
    const s = Math.round(summary.etaSeconds);
    if (s >= 86400) return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
    if (s >= 3600) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    if (s >= 60) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return s + 's';
  }

  function rate(perMinute) {
    return String(Math.round(perMinute * 100) / 100);
  }

  function formatTime(iso) {
    return String(iso).replace('T', ' ').replace(/\.\d+/, '').replace('Z', '');
  }

  function progressOf(summary) {
    const p = document.createElement('progress');
    const done = summary.progress.done + summary.progress.failed;
    p.max = Math.max(1, summary.progress.combinations);
    p.value = done;
    p.title = done + ' of ' + summary.progress.combinations + ' finished';
    return p;
  }

  // Snippets mark matches with [ and ]: rebuilt as text nodes and <mark> elements, never parsed as HTML.
  function snippetNode(snippet) {
    const p = el('p', null, 'snippet');
    const parts = String(snippet).split(/(\[[^\[\]]*\])/);
    for (const part of parts) {
      if (part.length > 2 && part.startsWith('[') && part.endsWith(']')) {
        p.appendChild(el('mark', part.slice(1, -1)));
      } else if (part.length > 0) {
        p.appendChild(document.createTextNode(part));
      }
    }
    return p;
  }

  function documentHref(uri, model) {
    const query = new URLSearchParams({ uri: uri });
    if (model) query.set('model', model);
    return '#/documents?' + query.toString();
  }

  function pageName(uri, page) {
    return 'document ' + uri + ', page ' + page;
  }

  // ---- views ------------------------------------------------------------------------------------------------

  let pollTimer = null;
  let routeToken = 0;

  function show(id) {
    for (const section of document.querySelectorAll('main > section')) {
      section.hidden = section.id !== id;
    }
  }

  function poll(fn) {
    const token = routeToken;
    const tick = async () => {
      if (token !== routeToken) return;
      try {
        await fn();
        setStatus('updated ' + new Date().toLocaleTimeString());
      } catch (e) {
        setStatus('error: ' + e.message);
      }
      if (token === routeToken) {
        pollTimer = setTimeout(tick, POLL_MS);
      }
    };
    tick();
  }

  async function renderRuns() {
    const runs = await getJson('/api/runs');
    const body = $('runs-table').querySelector('tbody');
    body.replaceChildren();
    for (const summary of runs) {
      const run = summary.run;
      body.appendChild(row([
        link('#/runs/' + encodeURIComponent(run.id), run.name),
        formatTime(run.createdAt),
        run.model,
        run.tasks.join(' | '),
        progressOf(summary),
        { text: summary.progress.done, className: 'num' },
        { text: summary.progress.failed, className: 'num' },
        { text: summary.progress.pending, className: 'num' },
        { text: rate(summary.progress.throughputPerMinute), className: 'num' },
        formatEta(summary),
      ]));
    }
    $('runs-empty').hidden = runs.length > 0;
  }

  async function renderRun(id) {
    const detail = await getJson('/api/runs/' + encodeURIComponent(id));
    const summary = detail.summary;
    const run = summary.run;
    $('run-title').textContent = 'Run ' + run.name;
    const bar = $('run-progress');
    bar.max = Math.max(1, summary.progress.combinations);
    bar.value = summary.progress.done + summary.progress.failed;
    const facts = $('run-facts');
    facts.replaceChildren();
    fact(facts, 'id', run.id);
    fact(facts, 'source', run.source);
    fact(facts, 'model', run.model);
    fact(facts, 'tasks', run.tasks.join(' | '));
    fact(facts, 'created (UTC)', formatTime(run.createdAt));
    fact(facts, 'listing', summary.progress.listingCompleted ? 'complete' : 'in progress');
    fact(facts, 'objects listed / enqueued', summary.progress.listed + ' / ' + summary.progress.enqueued);
    fact(facts, 'done / failed / pending', summary.progress.done + ' / ' + summary.progress.failed + ' / ' + summary.progress.pending + ' of ' + summary.progress.combinations);
    fact(facts, 'throughput', rate(summary.progress.throughputPerMinute) + ' per min (last ' + summary.throughputWindowMinutes + ' min)');
    fact(facts, 'eta', formatEta(summary));
    $('run-search').href = '#/search?run=' + encodeURIComponent(run.id);

    const groups = $('failure-groups').querySelector('tbody');
    groups.replaceChildren();
    for (const g of detail.failureGroups) {
      groups.appendChild(row([g.reason, { text: g.count, className: 'num' }, g.exampleMessage || '']));
    }
    $('run-no-failures').hidden = detail.failureGroups.length > 0;
    $('failure-groups').hidden = detail.failureGroups.length === 0;
    $('retry').hidden = !detail.retryCommand;
    $('retry-command').textContent = detail.retryCommand || '';

    const failures = detail.failureGroups.length > 0 ? await getJson('/api/runs/' + encodeURIComponent(id) + '/failures?limit=100') : [];
    const list = $('failures-table').querySelector('tbody');
    list.replaceChildren();
    for (const f of failures) {
      list.appendChild(row([{ text: f.page ? f.uri + '#page=' + f.page : f.uri, className: 'wrap' }, f.task, f.reason, f.message || '', { text: f.attempts, className: 'num' }]));
    }
    $('failures-table').hidden = failures.length === 0;
  }

  let searchState = null;

  async function fillRunFilter(selected) {
    const select = $('filter-run');
    const runs = await getJson('/api/runs');
    select.replaceChildren(el('option', 'All runs'));
    select.firstChild.value = '';
    for (const summary of runs) {
      const option = el('option', summary.run.name);
      option.value = summary.run.id;
      select.appendChild(option);
    }
    select.value = selected || '';
  }

  async function renderSearch(params) {
    const q = params.get('q') || '';
    $('search-input').value = q;
    $('filter-task').value = params.get('task') || '';
    $('filter-model').value = params.get('model') || '';
    await fillRunFilter(params.get('run'));
    searchState = { params: params, offset: 0 };
    $('search-grid').replaceChildren();
    await loadSearchPage();
  }

  async function loadSearchPage() {
    const state = searchState;
    const query = new URLSearchParams();
    for (const key of ['q', 'run', 'task', 'model']) {
      const value = state.params.get(key);
      if (value) query.set(key, value);
    }
    query.set('offset', String(state.offset));
    query.set('limit', String(PAGE));
    const page = await getJson('/api/search?' + query.toString());
    const grid = $('search-grid');
    for (const hit of page.hits) {
      const card = el('div', null, 'card');
      card.dataset.resultId = String(hit.id);
      const open = el('a');
      open.href = '#/results/' + encodeURIComponent(hit.id);
      const img = document.createElement('img');
      img.loading = 'lazy';
      img.alt = '';
      img.src = '/api/results/' + encodeURIComponent(hit.id) + '/thumbnail';
      open.appendChild(img);
      const meta = el('div', null, 'meta');
      meta.appendChild(snippetNode(hit.snippet || '(no text)'));
      meta.appendChild(el('div', hit.task + (hit.hasBoxes ? ' · boxes' : ''), 'task'));
      if (!hit.page) meta.appendChild(el('div', hit.uri, 'uri'));
      open.appendChild(meta);
      card.appendChild(open);
      if (hit.page) {
        const doc = link(documentHref(hit.uri, hit.model), pageName(hit.uri, hit.page));
        doc.className = 'doc';
        card.appendChild(doc);
      }
      grid.appendChild(card);
    }
    state.offset += page.hits.length;
    $('search-more').hidden = !page.hasMore;
    $('search-empty').hidden = grid.childElementCount > 0;
    setStatus(grid.childElementCount + (page.hasMore ? '+' : '') + ' result(s)');
  }

  async function renderResult(id) {
    // Mark the stage as loading before the fetch: a hash change from one result to another would otherwise leave the
    // previous result's ready flag up while the new one loads, and anything waiting on it would read stale content.
    const stage = $('stage');
    stage.dataset.ready = '';
    stage.dataset.resultId = String(id);
    const r = await getJson('/api/results/' + encodeURIComponent(id));
    $('result-title').textContent = r.page ? pageName(r.uri, r.page) : r.uri;
    const documentLink = $('result-document');
    documentLink.replaceChildren();
    documentLink.hidden = !r.page;
    if (r.page) {
      documentLink.appendChild(link(documentHref(r.uri, r.model), 'All pages of this document'));
    }
    $('result-text').textContent = r.text === null || r.text === undefined ? '' : r.text;
    const facts = $('result-facts');
    facts.replaceChildren();
    fact(facts, 'result id', r.id);
    fact(facts, 'task', r.task);
    fact(facts, 'model', r.model);
    fact(facts, 'run', r.runName || '(none)');
    fact(facts, 'tokens (prompt / generated)', r.promptTokens + ' / ' + r.generatedTokens);
    fact(facts, 'latency', Math.round(r.latencyMs) + ' ms');
    if (r.page) fact(facts, 'page', r.page + (r.width && r.height ? ' (' + r.width + ' x ' + r.height + ' px as rendered)' : ''));
    fact(facts, 'etag', r.etag);
    fact(facts, 'updated (UTC)', formatTime(r.updatedAt));
    if (r.superseded) fact(facts, 'superseded', 'yes: the object changed or disappeared since');

    const boxes = Array.isArray(r.boxes) ? r.boxes : [];
    const table = $('box-table').querySelector('tbody');
    table.replaceChildren();
    boxes.forEach((b) => table.appendChild(row([String(b.label), b.x1, b.y1, b.x2, b.y2, b.mask ? 'yes' : 'no'])));
    $('box-table').hidden = boxes.length === 0;

    const img = $('result-image');
    $('image-error').hidden = true;
    $('box-layer').replaceChildren();
    const canvas = $('mask-layer');
    canvas.width = 0;
    img.alt = r.uri;
    img.src = '/api/results/' + encodeURIComponent(r.id) + '/image';
    try {
      await img.decode();
    } catch (e) {
      $('image-error').hidden = false;
      $('image-error').textContent = 'The image could not be loaded from its source.';
      stage.dataset.ready = 'error';
      return;
    }
    // A page is served larger than the model saw it; its boxes are in the recorded (rendered) size.
    const page = r.page && r.width && r.height;
    drawOverlays(boxes, page ? r.width : img.naturalWidth, page ? r.height : img.naturalHeight);
    stage.dataset.ready = '1';
  }

  async function renderDocument(params) {
    const query = new URLSearchParams({ uri: params.get('uri') || '' });
    if (params.get('model')) query.set('model', params.get('model'));
    const view = $('document-view');
    view.dataset.ready = '';
    const d = await getJson('/api/documents?' + query.toString());
    $('document-title').textContent = 'Document ' + d.uri;
    const bar = $('document-progress');
    bar.max = Math.max(1, d.pages.length);
    bar.value = d.pagesDone + d.pagesFailed;
    const facts = $('document-facts');
    facts.replaceChildren();
    fact(facts, 'kind', d.kind);
    fact(facts, 'model', d.model);
    fact(facts, 'pages', d.pageCount === null ? 'unknown (not opened)' : d.pageCount);
    fact(facts, 'done / failed / pending', d.pagesDone + ' / ' + d.pagesFailed + ' / ' + d.pagesPending + (d.complete ? ' (complete)' : ''));
    fact(facts, 'etag', d.etag);
    const failure = $('document-failure');
    failure.hidden = !d.failure;
    failure.textContent = d.failure ? 'The document could not be processed: ' + d.failure.reason + (d.failure.message ? ': ' + d.failure.message : '') : '';

    const list = $('document-pages');
    list.replaceChildren();
    for (const p of d.pages) {
      const item = el('li', null, 'page');
      item.dataset.page = String(p.page);
      const img = document.createElement('img');
      img.loading = 'lazy';
      img.alt = 'page ' + p.page;
      img.src = p.thumbnail;
      item.appendChild(img);
      const body = el('div');
      const title = el('h3', 'Page ' + p.page);
      title.appendChild(el('span', p.status, 'status ' + p.status));
      body.appendChild(title);
      const dl = el('dl');
      for (const r of p.results) {
        const dt = el('dt');
        dt.appendChild(link('#/results/' + encodeURIComponent(r.id), r.task));
        dl.appendChild(dt);
        dl.appendChild(el('dd', r.text === null || r.text === undefined ? '' : r.text));
      }
      for (const f of p.failures) {
        dl.appendChild(el('dt', f.task));
        dl.appendChild(el('dd', 'failed: ' + f.reason + (f.message ? ': ' + f.message : ''), 'failure'));
      }
      body.appendChild(dl);
      item.appendChild(body);
      list.appendChild(item);
    }
    view.dataset.ready = '1';
  }

  // Boxes are placed in fractions of the natural image size, so they stay on the image at any displayed size.
  function drawOverlays(boxes, w, h) {
    const layer = $('box-layer');
    const canvas = $('mask-layer');
    const masks = boxes.filter((b) => b.mask && Array.isArray(b.mask.size) && typeof b.mask.counts === 'string');
    if (masks.length > 0) {
      const [mh, mw] = masks[0].mask.size;
      canvas.width = mw;
      canvas.height = mh;
      const ctx = canvas.getContext('2d');
      const image = ctx.createImageData(mw, mh);
      boxes.forEach((b, i) => {
        if (!b.mask || b.mask.size[0] !== mh || b.mask.size[1] !== mw) return;
        let mask;
        try {
          mask = rleToMask(decodeCocoRle(b.mask.counts), mh, mw);
        } catch (e) {
          setStatus('mask ' + i + ': ' + e.message);
          return;
        }
        const [cr, cg, cb] = hexToRgb(COLORS[i % COLORS.length]);
        for (let p = 0; p < mask.length; p++) {
          if (mask[p]) {
            image.data[4 * p] = cr;
            image.data[4 * p + 1] = cg;
            image.data[4 * p + 2] = cb;
            image.data[4 * p + 3] = 110;
          }
        }
      });
      ctx.putImageData(image, 0, 0);
    }

    boxes.forEach((b, i) => {
      const x1 = Math.max(0, Math.min(w, Number(b.x1)));
      const y1 = Math.max(0, Math.min(h, Number(b.y1)));
      const x2 = Math.max(0, Math.min(w, Number(b.x2)));
      const y2 = Math.max(0, Math.min(h, Number(b.y2)));
      if (!(x2 > x1 && y2 > y1)) return;
      const box = el('div', null, 'box');
      box.dataset.index = String(i);
      box.style.setProperty('--c', COLORS[i % COLORS.length]);
      box.style.left = (100 * x1 / w) + '%';
      box.style.top = (100 * y1 / h) + '%';
      box.style.width = (100 * (x2 - x1) / w) + '%';
      box.style.height = (100 * (y2 - y1) / h) + '%';
      box.appendChild(el('span', String(b.label), 'label'));
      layer.appendChild(box);
    });
  }

  // ---- routing ----------------------------------------------------------------------------------------------

  async function route() {
    routeToken++;
    clearTimeout(pollTimer);
    setStatus('');
    const hash = location.hash || '#/runs';
    const [path, queryString] = hash.slice(1).split('?');
    const parts = path.split('/').filter(Boolean);
    try {
      if (parts[0] === 'runs' && parts[1]) {
        show('run-view');
        poll(() => renderRun(decodeURIComponent(parts[1])));
      } else if (parts[0] === 'search') {
        show('search-view');
        await renderSearch(new URLSearchParams(queryString || ''));
      } else if (parts[0] === 'documents') {
        show('document-view');
        await renderDocument(new URLSearchParams(queryString || ''));
      } else if (parts[0] === 'results' && parts[1]) {
        show('result-view');
        await renderResult(decodeURIComponent(parts[1]));
      } else {
        show('runs-view');
        poll(renderRuns);
      }
    } catch (e) {
      setStatus('error: ' + e.message);
    }
  }

  function init() {
    $('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      const fields = { q: $('search-input').value.trim(), run: $('filter-run').value, task: $('filter-task').value.trim(), model: $('filter-model').value.trim() };
      for (const [key, value] of Object.entries(fields)) {
        if (value) query.set(key, value);
      }
      const target = '#/search?' + query.toString();
      if (location.hash === target) {
        route();
      } else {
        location.hash = target;
      }
    });
    $('search-more').addEventListener('click', () => loadSearchPage().catch((e) => setStatus('error: ' + e.message)));
    window.addEventListener('hashchange', route);
    route();
  }

  // For tests and the console: the mask decoder is the one piece of arithmetic on the page.
  window.pgpipe = Object.freeze({ decodeCocoRle: decodeCocoRle, rleToMask: rleToMask });

  init();
})();
