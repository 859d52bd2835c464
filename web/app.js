// Ferry's web client: plain JavaScript, no build step. Logs in with the session
// cookie the server sets, sends the CSRF token on every change, browses the home
// folder, and uploads over tus so a dropped Wi-Fi connection resumes where it stopped.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { csrf: '', path: '/', permissions: [] };
/** Files up to this size get their SHA-256 computed here too, so the server checks it end to end. */
const LOCAL_DIGEST_MAX = 64 * 1024 * 1024;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(response) {
  const body = await response.json().catch(() => ({}));
  return new ApiError(response.status, body.code || 'HTTP_' + response.status, body.message || response.statusText);
}

async function api(method, route, body) {
  const headers = { 'X-CSRF-Token': state.csrf };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch('/api/' + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (response.status === 401) {
    const error = await failure(response);
    showLogin(error.code === 'SESSION_REVOKED' ? error.message : '');
    throw error;
  }
  if (!response.ok) throw await failure(response);
  return response.json();
}

function joinPath(folder, name) {
  return (folder.endsWith('/') ? folder : folder + '/') + name;
}

function formatSize(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return (unit === 0 ? value : value.toFixed(1)) + ' ' + units[unit];
}

function element(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function showError(error) {
  $('error').textContent = error ? error.message : '';
}

function showLogin(message) {
  state.csrf = '';
  $('files').hidden = true;
  $('logout').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

function showFiles(session) {
  state.csrf = session.csrf;
  state.permissions = session.permissions;
  $('login').hidden = true;
  $('files').hidden = false;
  $('logout').hidden = false;
  $('who').hidden = false;
  $('who').textContent = session.user;
  for (const id of ['pick-files', 'pick-folder', 'mkdir']) $(id).disabled = !session.permissions.includes('write');
  return browse(state.path);
}

async function browse(path) {
  showError(null);
  const listing = await api('GET', 'list?path=' + encodeURIComponent(path));
  state.path = listing.path;
  renderCrumbs();
  const list = $('entries');
  list.replaceChildren();
  listing.entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1));
  for (const entry of listing.entries) list.append(renderEntry(entry));
  if (listing.entries.length === 0) list.append(element('li', { className: 'meta', textContent: 'This folder is empty.' }));
}

function renderCrumbs() {
  const crumbs = $('crumbs');
  crumbs.replaceChildren();
  const parts = state.path.split('/').filter(Boolean);
  const link = (label, target) => {
    const a = element('a', { href: '#', textContent: label });
    a.addEventListener('click', (event) => {
      event.preventDefault();
      browse(target).catch(showError);
    });
    return a;
  };
  crumbs.append(link('Home', '/'));
  parts.forEach((part, index) => crumbs.append(' / ', link(part, '/' + parts.slice(0, index + 1).join('/'))));
}

function renderEntry(entry) {
  const path = joinPath(state.path, entry.name);
  const item = element('li', {});
  item.dataset.name = entry.name;
  let name;
  if (entry.type === 'dir') {
    name = element('a', { href: '#', className: 'name', textContent: entry.name + '/' });
    name.addEventListener('click', (event) => {
      event.preventDefault();
      browse(path).catch(showError);
    });
  } else {
    name = element('a', { href: '/api/download?path=' + encodeURIComponent(path), className: 'name', textContent: entry.name, download: entry.name });
  }
  const when = new Date(entry.mtime).toLocaleString();
  const meta = element('span', { className: 'meta', textContent: entry.type === 'dir' ? 'folder · ' + when : formatSize(entry.size) + ' · ' + when });
  const actions = element('span', { className: 'actions' });
  if (state.permissions.includes('write') && state.permissions.includes('delete')) {
    const rename = element('button', { type: 'button', textContent: 'Rename' });
    rename.addEventListener('click', () => renameEntry(path, entry.name));
    actions.append(rename);
  }
  if (state.permissions.includes('delete')) {
    const remove = element('button', { type: 'button', className: 'delete', textContent: 'Delete' });
    remove.addEventListener('click', () => deleteEntry(path, entry));
    actions.append(remove);
  }
  item.append(name, actions, meta);
  if (entry.type === 'file') {
    const sha = element('span', { className: 'sha', textContent: 'SHA-256 …' });
    item.append(sha);
    api('GET', 'stat?path=' + encodeURIComponent(path)).then(
      (stat) => (sha.textContent = 'SHA-256 ' + stat.sha256),
      () => (sha.textContent = ''),
    );
  }
  return item;
}

async function renameEntry(path, name) {
  const to = prompt('New name for ' + name, name);
  if (!to || to === name) return;
  try {
    await api('POST', 'rename', { from: path, to: joinPath(state.path, to) });
    await browse(state.path);
  } catch (error) {
    showError(error);
  }
}

async function deleteEntry(path, entry) {
  if (!confirm('Delete ' + entry.name + (entry.type === 'dir' ? ' and everything in it' : '') + '?')) return;
  try {
    await api('POST', 'delete', { path, recursive: entry.type === 'dir' });
    await browse(state.path);
  } catch (error) {
    showError(error);
  }
}

async function makeFolder() {
  const name = prompt('Name of the new folder');
  if (!name) return;
  try {
    await api('POST', 'mkdir', { path: joinPath(state.path, name) });
    await browse(state.path);
  } catch (error) {
    showError(error);
  }
}

// ---- tus uploads ----

function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function localDigest(file) {
  if (file.size > LOCAL_DIGEST_MAX || !crypto.subtle) return '';
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function tusHeaders(extra) {
  return Object.assign({ 'Tus-Resumable': '1.0.0', 'X-CSRF-Token': state.csrf }, extra);
}

/** One PATCH of the rest of the file from `offset`; resolves with the status and headers. */
function patch(url, file, offset, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PATCH', url);
    const headers = tusHeaders({ 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' });
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(offset + event.loaded);
    xhr.onload = () =>
      resolve({ status: xhr.status, offset: Number(xhr.getResponseHeader('Upload-Offset')), sha256: xhr.getResponseHeader('Ferry-Sha256'), retryAfter: xhr.getResponseHeader('Retry-After'), body: xhr.responseText });
    xhr.onerror = () => reject(new Error('network'));
    xhr.send(file.slice(offset));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long the server asks to wait (423 Locked: an earlier connection still writes the upload). */
function retryAfterMs(value) {
  return Math.min(Math.max(Number(value) || 1, 1), 30) * 1000;
}

async function heldOffset(url) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, { method: 'HEAD', headers: tusHeaders({}) });
    if (response.status === 423 && attempt < 30) {
      await sleep(retryAfterMs(response.headers.get('Retry-After')));
      continue;
    }
    if (!response.ok) throw await failure(response);
    return Number(response.headers.get('Upload-Offset'));
  }
}

/** Uploads one file into `folder`; retries after network failures from the bytes the server holds. */
async function tusUpload(file, folder, onProgress) {
  const sha256 = await localDigest(file);
  const metadata = [['filename', file.name], ['folder', folder]];
  if (sha256) metadata.push(['sha256', sha256]);
  const created = await fetch('/api/tus', {
    method: 'POST',
    headers: tusHeaders({ 'Upload-Length': String(file.size), 'Upload-Metadata': metadata.map(([key, value]) => key + ' ' + base64(value)).join(',') }),
  });
  if (created.status !== 201) throw await failure(created);
  const url = created.headers.get('Location');
  let offset = 0;
  let failures = 0;
  while (offset < file.size) {
    let result;
    try {
      result = await patch(url, file, offset, onProgress);
    } catch {
      if (++failures > 10) throw new Error('the connection keeps failing; the upload stopped at ' + formatSize(offset));
      await sleep(Math.min(500 * 2 ** failures, 15000));
      offset = await heldOffset(url).catch(() => offset);
      continue;
    }
    if (result.status === 409) {
      offset = await heldOffset(url);
      continue;
    }
    if (result.status === 423) {
      if (++failures > 10) throw new Error('the upload is still being written by an earlier connection; try again shortly');
      await sleep(retryAfterMs(result.retryAfter));
      offset = await heldOffset(url);
      continue;
    }
    if (result.status !== 204) {
      let body = {};
      try {
        body = JSON.parse(result.body);
      } catch {
        // not JSON (a proxy's page): the status alone says what happened
      }
      throw new ApiError(result.status, body.code, body.message || 'the upload failed (' + result.status + ')');
    }
    failures = 0;
    offset = result.offset;
    if (offset >= file.size) return { sha256: result.sha256, verified: sha256 !== '' };
  }
  return { sha256: sha256 || null, verified: sha256 !== '' };
}

function uploadRow(label) {
  const bar = element('progress', { max: 1, value: 0 });
  const text = element('span', { textContent: label + ' — waiting' });
  const row = element('li', {}, text, bar);
  $('uploads').prepend(row);
  return { row, bar, text };
}

/** Uploads each { file, dir } (dir relative to the current folder), one after another. */
async function uploadAll(items) {
  const base = state.path;
  const rows = items.map((item) => ({ ...item, ui: uploadRow(item.dir ? item.dir + '/' + item.file.name : item.file.name) }));
  for (const { file, dir, ui } of rows) {
    ui.text.textContent = ui.text.textContent.replace(' — waiting', ' — sending');
    ui.row.dataset.state = 'sending';
    try {
      const done = await tusUpload(file, dir ? joinPath(base, dir) : base, (sent) => {
        ui.bar.value = file.size === 0 ? 1 : sent / file.size;
      });
      ui.bar.value = 1;
      ui.row.dataset.state = 'done';
      ui.text.textContent = (dir ? dir + '/' : '') + file.name + ' — done' + (done.verified ? ', SHA-256 verified' : '') + (done.sha256 ? ' ' + done.sha256 : '');
    } catch (error) {
      ui.row.dataset.state = 'failed';
      ui.text.textContent = file.name + ' — failed: ' + error.message;
    }
  }
  if (state.path === base) await browse(base).catch(showError);
}

function pickedItems(input) {
  return Array.from(input.files, (file) => {
    const relative = file.webkitRelativePath || '';
    return { file, dir: relative.includes('/') ? relative.slice(0, relative.lastIndexOf('/')) : '' };
  });
}

/** Every file under a dropped entry, with its folder relative to the drop. */
async function walkEntry(entry, dir, out) {
  if (entry.isFile) {
    out.push({ file: await new Promise((resolve, reject) => entry.file(resolve, reject)), dir });
    return;
  }
  const reader = entry.createReader();
  const inner = dir ? dir + '/' + entry.name : entry.name;
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) await walkEntry(child, inner, out);
  }
}

async function droppedItems(dataTransfer) {
  const entries = Array.from(dataTransfer.items || [], (item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null)).filter(Boolean);
  if (entries.length === 0) return Array.from(dataTransfer.files, (file) => ({ file, dir: '' }));
  const out = [];
  for (const entry of entries) await walkEntry(entry, '', out);
  return out;
}

// ---- wiring ----

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: $('user').value, password: $('password').value }),
  });
  if (!response.ok) {
    const error = await failure(response);
    $('login-error').textContent = error.code === 'AUTH_FAILED' ? 'Wrong user name or password.' : error.code === 'BANNED' ? 'Too many failed logins: ' + error.message : error.message;
    return;
  }
  $('password').value = '';
  await showFiles(await response.json()).catch(showError);
});

$('logout').addEventListener('click', async () => {
  await api('POST', 'logout').catch(() => undefined);
  state.path = '/';
  showLogin('You are logged out.');
});

for (const id of ['pick-files', 'pick-folder']) {
  $(id).addEventListener('change', (event) => {
    const items = pickedItems(event.target);
    event.target.value = '';
    uploadAll(items);
  });
}

$('mkdir').addEventListener('click', makeFolder);

const drop = $('drop');
for (const name of ['dragenter', 'dragover']) {
  document.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
}
document.addEventListener('dragleave', () => drop.classList.remove('over'));
document.addEventListener('drop', async (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  if (!state.csrf || !state.permissions.includes('write')) return;
  uploadAll(await droppedItems(event.dataTransfer));
});

fetch('/api/session', { credentials: 'same-origin' }).then(
  async (response) => (response.ok ? showFiles(await response.json()) : showLogin('')),
  () => showLogin('The server cannot be reached.'),
);
