/**
 * A live panel: one EventSource on a table's or a record's URL (`?stream=sse&retained=false`:
 * changes only, no snapshot), each `update`, `delete` and `publish` listed with its change id,
 * newest first. EventSource reconnects by itself and sends `Last-Event-ID`, so the server replays
 * what happened while it was away: the panel keeps its place across reconnects, and an id at or
 * below the last one shown is not listed twice (until a `reset`, after which the ids start over).
 */
import { el } from './dom.ts';

/** Most events kept on screen; older ones are dropped so a busy table cannot grow the page without bound. */
const KEEP = 200;

export interface LiveView {
  /** Watches `url` (a table's or record's URL); undefined shows `reason` and watches nothing. */
  show(url: string | undefined, reason?: string): void;
}

/** A panel writing into `list` (an `<ol>`) and reporting the connection in `status`; `seen` runs for each event listed. */
export function liveView(list: HTMLElement, status: HTMLElement, seen?: (kind: string, data: string) => void): LiveView {
  let source: EventSource | undefined;
  let watched: string | undefined;
  let last = -1;

  function add(kind: string, e: MessageEvent<string>): void {
    const id = Number(e.lastEventId);
    // A reset (the log no longer holds the place, or a restored store's ids start lower): ids start over.
    if (kind === 'reset') last = -1;
    else if (Number.isInteger(id) && e.lastEventId !== '') {
      if (id <= last) return;
      last = id;
    }
    const li = el('li');
    li.append(el('span', kind, 'kind'), el('span', `#${e.lastEventId} `, 'id'), el('span', e.data));
    li.dataset.kind = kind;
    li.dataset.id = e.lastEventId;
    list.prepend(li);
    while (list.children.length > KEEP) list.lastElementChild!.remove();
    seen?.(kind, e.data);
  }

  return {
    show(url, reason) {
      // The same URL again (a record opened again after a save): the stream and its list go on.
      if (url !== undefined && source && url === watched && source.readyState !== EventSource.CLOSED) return;
      watched = url;
      source?.close();
      source = undefined;
      last = -1;
      list.replaceChildren();
      if (url === undefined) {
        status.textContent = reason ?? '';
        return;
      }
      status.textContent = 'connecting…';
      const s = new EventSource(`${url}?stream=sse&retained=false`, { withCredentials: true });
      source = s;
      s.addEventListener('open', () => {
        status.textContent = `connected to ${url}`;
      });
      s.addEventListener('error', () => {
        status.textContent = s.readyState === EventSource.CLOSED ? 'closed by the server' : 'reconnecting…';
      });
      for (const kind of ['update', 'delete', 'publish', 'reset']) s.addEventListener(kind, (e) => add(kind, e as MessageEvent<string>));
    },
  };
}
