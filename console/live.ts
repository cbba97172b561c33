/**
 * The live panel: one EventSource on the chosen table (`?stream=sse&retained=false`: changes only,
 * no snapshot). EventSource reconnects by itself and sends `Last-Event-ID`, so the server replays
 * what happened while it was away: the panel keeps its place across reconnects.
 */
import { byId, el } from './dom.ts';

/** Most events kept on screen; older ones are dropped so a busy table cannot grow the page without bound. */
const KEEP = 200;

export interface LiveView {
  /** Watches `path`; undefined: the table is not exported to SSE, nothing to watch. */
  show(path: string | undefined): void;
}

export function liveView(): LiveView {
  const list = byId<HTMLOListElement>('live');
  const status = byId('live-status');
  let source: EventSource | undefined;

  function add(kind: string, e: MessageEvent<string>): void {
    const li = el('li');
    li.append(el('span', kind, 'kind'), el('span', `#${e.lastEventId} `), el('span', e.data));
    li.dataset.kind = kind;
    li.dataset.id = e.lastEventId;
    list.prepend(li);
    while (list.children.length > KEEP) list.lastElementChild!.remove();
  }

  return {
    show(path) {
      source?.close();
      source = undefined;
      list.replaceChildren();
      if (path === undefined) {
        status.textContent = 'this table is not exported to Server-Sent Events (@export(sse: false))';
        return;
      }
      status.textContent = 'connecting…';
      const s = new EventSource(`${path}/?stream=sse&retained=false`, { withCredentials: true });
      source = s;
      s.addEventListener('open', () => {
        status.textContent = `connected to ${path}`;
      });
      s.addEventListener('error', () => {
        status.textContent = s.readyState === EventSource.CLOSED ? 'closed by the server' : 'reconnecting…';
      });
      for (const kind of ['update', 'delete', 'publish', 'reset']) s.addEventListener(kind, (e) => add(kind, e as MessageEvent<string>));
    },
  };
}
