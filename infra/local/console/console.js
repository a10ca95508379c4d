'use strict';
// The dealwire console: a deal view over the HTTP API (same origin, /v1) with a bearer dev token.
// Everything the API returns reaches the DOM through textContent / attributes, never as markup.
(() => {
  const API = '/v1';
  const TOKEN_KEY = 'dealwire.console.token';
  const REFRESH_MS = 2000;
  const LINK_TTL_MS = 60000;
  const NOTE_TTL_MS = 30000;
  const REFUSED_HINT = "get a fresh one with the command in make run's banner";

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    dealId: null,
    deals: [],
    timer: null,
    busy: false,
    again: false,
    links: new Map(), // "envelopeId/documentId" -> {url, until}
    notes: new Map(), // envelopeId -> {text, error, until}
  };
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // -- helpers ------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : String(child)); // strings become text nodes
    }
    return node;
  }

  function when(iso) {
    if (!iso) return el('span', { class: 'muted', text: '—' });
    const date = new Date(iso);
    const text = Number.isNaN(date.getTime())
      ? iso
      : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
    return el('time', { datetime: iso, title: iso, text });
  }

  const badge = (status) =>
    el('span', { class: `badge badge-${String(status || 'unknown').toLowerCase()}`, 'data-testid': 'status-badge', text: status || 'unknown' });

  const field = (label, ...value) => el('div', { class: 'field' }, el('span', { class: 'label', text: label }), ' ', ...value);

  function size(bytes) {
    if (bytes == null) return '';
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  // A user's sends from one template share a process named template-<hash> (api/sending.py).
  const processName = (id) => (id.startsWith('template-') ? 'sent by hand from a template' : `rule ${id}`);

  const person = (p) => (p.name ? `${p.name} <${p.email}>` : p.email);
  const enc = encodeURIComponent;

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.token}`, Accept: 'application/json' };
    let body;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const res = await fetch(API + path, { method: options.method || 'GET', headers, body, cache: 'no-store' });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const message = (data && ((data.error && data.error.message) || data.message)) || `HTTP ${res.status} ${res.statusText}`;
      throw new ApiError(res.status, message, data && data.error && data.error.code);
    }
    return data;
  }

  // -- token --------------------------------------------------------------------------------

  function readFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get('token');
    const deal = params.get('deal');
    if (deal) state.dealId = deal;
    if (token) {
      state.token = token.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      const rest = deal ? `#deal=${enc(deal)}` : '';
      history.replaceState(null, '', location.pathname + location.search + rest);
    }
  }

  function showTokenForm(message) {
    clearTimeout(state.timer);
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('layout').hidden = true;
    $('token-panel').hidden = false;
    $('token-message').textContent = message || 'No token yet: paste one to read the API.';
    $('token-message').classList.toggle('error', Boolean(message));
    setStatus(message ? 'token refused' : 'no token', Boolean(message));
    $('token-input').focus();
  }

  function onTokenSubmit(event) {
    event.preventDefault();
    const token = $('token-input').value.trim().replace(/^Bearer\s+/i, '');
    if (!token) return;
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token-input').value = '';
    start();
  }

  function setStatus(text, error) {
    $('status').textContent = text;
    $('status').classList.toggle('error', Boolean(error));
  }

  // -- refresh loop -------------------------------------------------------------------------

  function schedule(delay) {
    clearTimeout(state.timer);
    if (state.token) state.timer = setTimeout(refresh, delay);
  }

  async function refresh() {
    if (state.busy) {
      state.again = true;
      return;
    }
    state.busy = true;
    state.again = false;
    try {
      const page = await api('/deals?limit=100');
      state.deals = page.deals || [];
      if (!state.dealId && state.deals.length) state.dealId = state.deals[0].dealId;
      renderDeals();
      const dealId = state.dealId;
      const detail = dealId ? await loadDeal(dealId) : null;
      if (dealId === state.dealId) renderDetail(detail); // a click during the load wins
      setStatus(`refreshed ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        state.busy = false;
        showTokenForm(`the token was refused: ${err.message}; ${REFUSED_HINT}`);
        return;
      }
      if (err.status === 404 && state.dealId) {
        // #deal= may name a deal the CRM has yet to publish (make demo's, before its first step).
        renderDetail(null);
        setStatus(`waiting for deal ${state.dealId} to be published…`);
      } else {
        setStatus(`refresh failed: ${err.message}`, true);
      }
    }
    state.busy = false;
    schedule(state.again ? 0 : REFRESH_MS);
  }

  async function loadDeal(dealId) {
    const path = `/deals/${enc(dealId)}`;
    const [deal, envPage, threadList] = await Promise.all([
      api(path),
      api(`${path}/envelopes?limit=50`),
      api(`${path}/threads?limit=50`),
    ]);
    const [envelopes, threads] = await Promise.all([
      Promise.all((envPage.envelopes || []).map((e) => api(`/envelopes/${enc(e.envelopeId)}`))),
      Promise.all((threadList.threads || []).map((t) => api(`/threads/${enc(t.threadId)}`))),
    ]);
    await Promise.all(envelopes.map(resolveLinks));
    return { deal, envelopes, threads };
  }

  async function documentLink(envelopeId, documentId, fresh) {
    const key = `${envelopeId}/${documentId}`;
    const cached = state.links.get(key);
    if (!fresh && cached && cached.until > Date.now()) return cached.url;
    const link = await api(`/envelopes/${enc(envelopeId)}/documents/${enc(documentId)}?redirect=false`);
    const ttl = Math.min(LINK_TTL_MS, ((link.expiresIn || 60) * 1000) / 2);
    state.links.set(key, { url: link.url, until: Date.now() + ttl });
    return link.url;
  }

  async function resolveLinks(envelope) {
    for (const doc of envelope.documents || []) {
      if (!doc.available) continue;
      try {
        await documentLink(envelope.envelopeId, doc.documentId, false);
      } catch (err) {
        if (err.status === 401) throw err;
        state.links.delete(`${envelope.envelopeId}/${doc.documentId}`); // the click will say why
      }
    }
  }

  // -- actions ------------------------------------------------------------------------------

  function selectDeal(dealId) {
    state.dealId = dealId;
    history.replaceState(null, '', `${location.pathname}${location.search}#deal=${enc(dealId)}`);
    renderDeals();
    $('deal').replaceChildren(el('p', { class: 'muted', text: 'loading…' }));
    schedule(0);
  }

  async function onDownload(event, envelopeId, documentId) {
    event.preventDefault();
    try {
      // The link answers with Content-Disposition: attachment, so the page stays where it is.
      location.href = await documentLink(envelopeId, documentId, true);
    } catch (err) {
      note(envelopeId, `download failed: ${err.message}`, true);
    }
  }

  async function onVoid(envelopeId) {
    const reason = window.prompt('Why void this envelope? (the signers see this reason)');
    if (reason === null) return;
    try {
      const accepted = await api(`/envelopes/${enc(envelopeId)}/void`, { method: 'POST', body: { reason } });
      note(envelopeId, `void requested (${accepted.status}) by ${accepted.requestedBy || '?'}: ${accepted.reason}`, false);
    } catch (err) {
      note(envelopeId, `void refused: ${err.message}`, true);
    }
    schedule(0);
  }

  function note(envelopeId, text, error) {
    state.notes.set(envelopeId, { text, error, until: Date.now() + NOTE_TTL_MS });
    const slot = document.querySelector(`[data-testid="envelope-note"][data-envelope-id="${CSS.escape(envelopeId)}"]`);
    if (slot) renderNote(slot, envelopeId);
  }

  // -- rendering ----------------------------------------------------------------------------

  function renderDeals() {
    const list = $('deal-list');
    if (!state.deals.length) {
      list.replaceChildren(el('li', { class: 'empty', text: 'no deals yet: run make demo' }));
      return;
    }
    list.replaceChildren(
      ...state.deals.map((d) => {
        const selected = d.dealId === state.dealId;
        const contacts = (d.personIds || []).length;
        return el(
          'li',
          { class: selected ? 'selected' : null },
          el(
            'button',
            { type: 'button', 'data-testid': 'deal', 'data-deal-id': d.dealId, 'aria-current': selected ? 'true' : null, onclick: () => selectDeal(d.dealId) },
            el('span', { class: 'deal-title', text: d.title || d.dealId }),
            el('span', { class: 'deal-meta' }, badge(d.status), ` ${contacts} contact${contacts === 1 ? '' : 's'}`),
          ),
        );
      }),
    );
  }

  function renderDetail(detail) {
    const root = $('deal');
    if (!detail) {
      root.replaceChildren(el('p', { class: 'empty', text: 'no deal selected' }));
      return;
    }
    const { deal, envelopes, threads } = detail;
    root.replaceChildren(
      renderDealHeader(deal),
      section('Automation', 'automations', deal.automations, renderAutomation, 'no automation has run for this deal'),
      section('Envelopes', 'envelopes', envelopes, renderEnvelope, 'no envelopes yet'),
      section('Threads', 'threads', threads, renderThread, 'no threads yet'),
    );
  }

  function section(title, testid, items, render, empty) {
    const body = items && items.length ? items.map(render) : [el('p', { class: 'empty', text: empty })];
    return el('section', { class: 'section', 'data-testid': testid }, el('h3', { text: title }), ...body);
  }

  function renderDealHeader(deal) {
    const stage = deal.stage
      ? [`${deal.stage.pipelineId || '?'} / ${deal.stage.stageId || '?'} since `, when(deal.stage.changedAt)]
      : [el('span', { class: 'muted', text: 'unknown' })];
    const contacts = (deal.contacts || []).map((c) =>
      el('li', { 'data-testid': 'contact', 'data-person-id': c.personId },
        el('span', { class: c.name ? null : 'muted', text: c.name || `person ${c.personId} (not published yet)` }),
        (c.emails || []).length ? ` · ${c.emails.join(', ')}` : null),
    );
    return el('header', { class: 'deal-header', 'data-testid': 'deal-header', 'data-deal-id': deal.dealId },
      el('h2', {}, el('span', { 'data-testid': 'deal-title', text: deal.title || deal.dealId }), ' ', badge(deal.status)),
      field('deal', el('code', { text: deal.dealId })),
      field('stage', el('span', { 'data-testid': 'deal-stage' }, ...stage)),
      field('owner', deal.ownerUserId || '—'),
      field('contacts'),
      contacts.length ? el('ul', { class: 'contacts' }, ...contacts) : el('p', { class: 'empty', text: 'no contacts' }),
    );
  }

  function renderAutomation(a) {
    return el('article', { class: 'card', 'data-testid': 'automation', 'data-rule-id': a.ruleId, 'data-state': a.state },
      el('div', { class: 'card-head' }, el('strong', { text: processName(a.ruleId) }), ' ', badge(a.state)),
      field('envelope', a.envelopeId ? el('code', { text: a.envelopeId }) : '—'),
      field('claimed', when(a.claimedAt)),
      a.sentAt ? field('sent', when(a.sentAt)) : null,
      a.failedAt ? field('failed', when(a.failedAt)) : null,
      a.state === 'failed' ? el('p', { class: 'error', 'data-testid': 'automation-reason' },
        a.reason || 'failed', a.reasonDetail ? `: ${a.reasonDetail}` : null) : null,
      a.skippedAt ? el('p', { class: 'muted', 'data-testid': 'automation-skipped' }, 'skipped (already sent) at ', when(a.skippedAt)) : null,
      (a.warnings || []).length
        ? el('ul', { class: 'warnings', 'data-testid': 'automation-warnings' }, ...a.warnings.map((w) => el('li', { text: w })))
        : null,
    );
  }

  function renderEnvelope(e) {
    const by = e.sentBy || {};
    const sentBy = [by.ruleId ? `rule ${by.ruleId}` : null, by.userId ? `user ${by.userId}` : null].filter(Boolean).join(', ') || '—';
    const recipients = [...(e.recipients || [])].sort((a, b) => (a.routingOrder ?? Infinity) - (b.routingOrder ?? Infinity));
    const docs = (e.documents || []).filter((d) => d.available);
    const voidable = e.status === 'sent' || e.status === 'delivered';
    const noteSlot = el('p', { class: 'note', 'data-testid': 'envelope-note', 'data-envelope-id': e.envelopeId });
    renderNote(noteSlot, e.envelopeId);
    return el('article', { class: 'card', 'data-testid': 'envelope', 'data-envelope-id': e.envelopeId, 'data-status': e.status },
      el('div', { class: 'card-head' },
        el('strong', { 'data-testid': 'envelope-subject', text: e.subject || '(no subject)' }), ' ', badge(e.status), ' ',
        el('span', { class: 'tracker', 'data-testid': 'tracker', text: e.progress })),
      field('envelope', el('code', { text: e.envelopeId })),
      field('sent by', el('span', { 'data-testid': 'sent-by', text: sentBy })),
      field('sender', e.sender && e.sender.email ? person(e.sender) : '—'),
      field('sent', when(e.sentAt)),
      e.completedAt ? field('completed', when(e.completedAt)) : null,
      e.declinedAt ? field('declined', when(e.declinedAt)) : null,
      e.voidedAt ? field('voided', when(e.voidedAt), e.voidedReason ? ` — ${e.voidedReason}` : null) : null,
      e.voidRequested
        ? field('void requested', `by ${e.voidRequested.by}: ${e.voidRequested.reason} at `, when(e.voidRequested.at))
        : null,
      e.expiresAt ? field('expires', when(e.expiresAt)) : null,
      recipients.length ? renderRecipients(recipients) : el('p', { class: 'empty', text: 'no recipients' }),
      docs.length
        ? el('div', { class: 'documents' }, el('span', { class: 'label', text: 'documents' }), ...docs.map((d) => renderDocument(e, d)))
        : null,
      voidable
        ? el('button', { type: 'button', class: 'danger', 'data-testid': 'void', onclick: () => onVoid(e.envelopeId) }, 'Void envelope')
        : null,
      noteSlot,
    );
  }

  function renderRecipients(recipients) {
    const head = el('tr', {}, ...['#', 'name', 'email', 'status', 'signed / declined'].map((h) => el('th', { text: h })));
    const rows = recipients.map((r) =>
      el('tr', { 'data-testid': 'recipient', 'data-recipient-id': r.recipientId },
        el('td', { text: r.routingOrder ?? '' }),
        el('td', { text: r.name || '' }),
        el('td', { text: r.email || '' }),
        el('td', {}, badge(r.status), r.recipientType && r.recipientType !== 'signer' ? ` (${r.recipientType})` : null),
        el('td', {},
          r.signedAt ? ['signed ', when(r.signedAt)] : null,
          r.declinedAt ? ['declined ', when(r.declinedAt), r.declineReason ? `: ${r.declineReason}` : null] : null)),
    );
    return el('table', { class: 'recipients' }, el('thead', {}, head), el('tbody', {}, ...rows));
  }

  function renderDocument(envelope, doc) {
    const cached = state.links.get(`${envelope.envelopeId}/${doc.documentId}`);
    return el('a', {
      class: 'download',
      'data-testid': `download-${doc.documentId}`,
      href: cached ? cached.url : '#',
      rel: 'noreferrer',
      onclick: (event) => onDownload(event, envelope.envelopeId, doc.documentId),
      text: doc.name || doc.kind,
    });
  }

  function renderNote(slot, envelopeId) {
    const n = state.notes.get(envelopeId);
    if (n && n.until < Date.now()) state.notes.delete(envelopeId);
    const live = n && n.until >= Date.now();
    slot.textContent = live ? n.text : '';
    slot.classList.toggle('error', Boolean(live && n.error));
    slot.hidden = !live;
  }

  function renderThread(page) {
    const t = page.thread;
    const messages = page.messages || [];
    const seen = new Map();
    for (const m of messages) for (const p of [...(m.from || []), ...(m.to || []), ...(m.cc || [])]) {
      const key = (p.email || '').toLowerCase();
      if (!seen.has(key) || (!seen.get(key).name && p.name)) seen.set(key, p);
    }
    const count = t.messageCount;
    return el('article', { class: 'card', 'data-testid': 'thread', 'data-thread-id': t.threadId },
      el('div', { class: 'card-head' },
        el('strong', { 'data-testid': 'thread-subject', text: t.subject || '(no subject)' }), ' ',
        el('span', { class: 'muted', text: `${count} message${count === 1 ? '' : 's'} · ${t.linkState}` })),
      field('participants', el('span', { 'data-testid': 'participants', text: [...seen.values()].map(person).join(', ') || '—' })),
      field('last message', when(t.lastMessageAt)),
      messages.length ? el('ol', { class: 'messages' }, ...messages.map(renderMessage)) : el('p', { class: 'empty', text: 'no messages you may see' }),
      page.cursor ? el('p', { class: 'muted', text: 'older messages not shown' }) : null,
    );
  }

  function renderMessage(m) {
    const attachments = (m.parts || []).filter((p) => p.role === 'attachment' || p.role === 'inline');
    return el('li', { class: 'message', 'data-testid': 'message', 'data-message-key': m.messageKey },
      el('div', { class: 'message-head' },
        el('strong', { text: (m.from || []).map(person).join(', ') || '(unknown sender)' }), ' ', when(m.sentAt),
        el('span', { class: 'muted', text: ` · ${m.kind} · ${m.sharing}` })),
      el('div', { class: 'message-subject', text: m.subject || '(no subject)' }),
      m.snippet ? el('p', { class: 'snippet', text: m.snippet }) : null,
      attachments.length
        ? el('ul', { class: 'attachments' }, ...attachments.map((p) => el('li', {},
          el('a', { href: p.url, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'attachment', text: p.filename || `(${p.role} ${p.contentType})` }),
          el('span', { class: 'muted', text: ` ${size(p.size)} · ${p.contentType}${p.role === 'inline' ? ' · inline' : ''}` }))))
        : null,
    );
  }

  // -- start --------------------------------------------------------------------------------

  function start() {
    if (!state.token) {
      showTokenForm();
      return;
    }
    $('token-panel').hidden = true;
    $('layout').hidden = false;
    setStatus('loading…');
    schedule(0);
  }

  $('token-form').addEventListener('submit', onTokenSubmit);
  window.addEventListener('hashchange', () => {
    const before = state.dealId;
    readFragment();
    if (state.token && $('layout').hidden) start();
    else if (state.dealId !== before) selectDeal(state.dealId);
  });
  readFragment();
  start();
})();
