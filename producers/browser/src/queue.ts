/** The events not yet acknowledged, oldest first, mirrored to localStorage under this tab's key.
 *
 * A reload, a crash or an offline spell loses nothing: the next page of the tab (or, once a tab
 * is closed or silent for STALE_MS, any page of the site) picks the saved events up and sends
 * them with their event_ids, which the pipeline counts once. Bounded: past `max` events the
 * oldest are dropped, so a site that is offline for a week does not fill the visitor's disk.
 */
import type { Env } from "./env";

export type Kind = "i" | "s";
export interface Item {
  k: Kind;
  e: Record<string, unknown> & { event_id: string };
}
interface Saved {
  t: number;
  c?: number;
  q: Item[];
}

export const QUEUE_PREFIX = "ip:q:";
export const STALE_MS = 300_000;

export class Queue {
  items: Item[] = [];
  private readonly key: string;

  constructor(
    private readonly env: Env,
    tab: string,
    private readonly max: number,
  ) {
    this.key = QUEUE_PREFIX + tab;
  }

  /** This tab's saved events, plus those of tabs that were closed or went silent. */
  load(): void {
    const ls = this.env.ls;
    if (!ls) return;
    const now = this.env.now();
    const ids = new Set(this.items.map((x) => x.e.event_id));
    const keys: string[] = [];
    for (let i = 0; i < ls.length; i++) keys.push(ls.key(i) as string);
    for (const k of keys) {
      if (!k.startsWith(QUEUE_PREFIX)) continue;
      let saved: Saved | null = null;
      try {
        saved = JSON.parse(ls.getItem(k) as string) as Saved;
      } catch {
        // unreadable: dropped below
      }
      const own = k === this.key;
      if (!own && saved && !saved.c && now - saved.t < STALE_MS) continue; // a live tab's
      for (const x of saved?.q ?? []) {
        if (!ids.has(x.e.event_id)) {
          ids.add(x.e.event_id);
          this.items.push(x);
        }
      }
      if (!own) ls.removeItem(k);
    }
    this.save();
  }

  push(item: Item): void {
    this.items.push(item);
    this.save();
  }

  remove(ids: Set<string>): void {
    this.items = this.items.filter((x) => !ids.has(x.e.event_id));
    this.save();
  }

  /** `closed`: the page is going away for good, so any page of the site may adopt these. */
  save(closed?: boolean): void {
    const over = this.items.length - this.max;
    if (over > 0) {
      this.items.splice(0, over);
      this.env.warn(`queue full: dropped the ${over} oldest events`);
    }
    try {
      this.env.ls?.setItem(
        this.key,
        JSON.stringify({ t: this.env.now(), c: closed ? 1 : 0, q: this.items }),
      );
    } catch {
      // over the storage quota: the events stay in memory
    }
  }

  clear(): void {
    this.items = [];
    this.env.ls?.removeItem(this.key);
  }
}
