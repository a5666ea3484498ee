// Small shared pieces: routing, formatting, status badges, a two-step confirm button.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

// ---- routing (history API; the server answers every client route with index.html) -------------
const routeListeners = new Set();
export function navigate(path) {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  for (const fn of routeListeners) fn();
}
window.addEventListener('popstate', () => {
  for (const fn of routeListeners) fn();
});
export function useRoute() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const fn = () => setPath(location.pathname);
    routeListeners.add(fn);
    return () => routeListeners.delete(fn);
  }, []);
  return path;
}
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

// ---- formatting -------------------------------------------------------------------------------
export const short = (id) => (id ? String(id).slice(0, 8) : '—');
export function ago(ts, now = Date.now()) {
  if (!ts) return '—';
  const s = Math.round((now - Date.parse(ts)) / 1000);
  if (s < 0) return `in ${fmtDuration(-s)}`;
  return `${fmtDuration(s)} ago`;
}
export function fmtDuration(s) {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}
export const json = (v) => (v === undefined || v === null ? '—' : JSON.stringify(v, null, 2));

export function Badge({ status }) {
  return html`<span class=${`badge s-${status}`}>${status ?? '—'}</span>`;
}

export function Progress({ value, label }) {
  const pct = Math.round(Math.max(0, Math.min(1, value ?? 0)) * 100);
  return html`<div class="progress" role="progressbar" aria-label=${label} aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}>
    <div class="bar" style=${{ width: `${pct}%` }}></div><span>${pct}%</span>
  </div>`;
}

/** A destructive action that asks first: the first click shows "Confirm" and "Keep". */
export function ConfirmButton({ label, confirmLabel, onConfirm, disabled, title }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  if (!asking) {
    return html`<span class="confirm"><button type="button" disabled=${disabled} title=${title} onClick=${() => { setError(null); setAsking(true); }}>${label}</button>${error && html`<span role="alert" class="error">${error}</span>`}</span>`;
  }
  const go = async () => {
    setBusy(true);
    try {
      await onConfirm();
      setAsking(false);
    } catch (err) {
      setError(err.message);
      setAsking(false);
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="confirm" role="group" aria-label=${`Confirm: ${label}`}>
    <span>${confirmLabel ?? 'Are you sure?'}</span>
    <button type="button" class="danger" disabled=${busy} onClick=${go} autofocus>${`Yes, ${label.toLowerCase()}`}</button>
    <button type="button" onClick=${() => setAsking(false)}>Keep</button>
  </span>`;
}

/** Re-renders every `ms` (countdowns, "ago" labels). */
export function useTick(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Runs an async loader on mount / when deps change; returns {data, error, reload}. */
export function useLoad(fn, deps) {
  const [st, setSt] = useState({ data: null, error: null, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setSt((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setSt({ data, error: null, loading: false }),
      (error) => live && setSt({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { ...st, reload: () => setN((x) => x + 1) };
}

export function ErrorNote({ error }) {
  return error ? html`<p role="alert" class="error">${error.message}</p>` : null;
}
