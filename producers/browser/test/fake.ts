/** A page for the unit tests: storages in memory, a clock that moves only when told, timers
 * run by `advance`, a collector that answers what the test queued, beacons recorded. */
import { webcrypto } from "node:crypto";
import type { Answer, Env } from "../src/env";

export class MemoryStorage implements Storage {
  private data = new Map<string, string>();
  get length(): number {
    return this.data.size;
  }
  key(i: number): string | null {
    return [...this.data.keys()][i] ?? null;
  }
  getItem(k: string): string | null {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.data.set(k, String(v));
  }
  removeItem(k: string): void {
    this.data.delete(k);
  }
  clear(): void {
    this.data.clear();
  }
  keys(): string[] {
    return [...this.data.keys()];
  }
}

export interface Request {
  url: string;
  events: Record<string, unknown>[];
  json?: number;
}

type Reply = Answer | "network-error";

export class FakePage implements Env {
  ls = new MemoryStorage();
  ss = new MemoryStorage();
  clock = 1_700_000_000_000;
  location = "https://shop.example/search?q=earbuds";
  isHidden = false;
  isOnline = true;
  crypto = webcrypto as unknown as Crypto;
  posts: Request[] = [];
  beacons: Request[] = [];
  warnings: string[] = [];
  beaconAccepts = true;
  /** Answers for the next POSTs, in order; 200 when none is queued. */
  replies: Reply[] = [];
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  private listeners: { key: string; fn: (e: Event & { persisted?: boolean }) => void }[] = [];

  now = (): number => this.clock;
  href = (): string => this.location;
  hidden = (): boolean => this.isHidden;
  online = (): boolean => this.isOnline;
  warn = (m: string): void => {
    this.warnings.push(m);
  };

  async post(url: string, body: string, json?: number): Promise<Answer> {
    const parsed = JSON.parse(body) as Record<string, unknown> | Record<string, unknown>[];
    this.posts.push({ url, events: Array.isArray(parsed) ? parsed : [parsed], json });
    const reply = this.replies.shift() ?? { status: 200, retryAfter: 0, body: null };
    if (reply === "network-error") throw new TypeError("Failed to fetch");
    return reply;
  }

  beacon(url: string, body: string): boolean {
    if (!this.beaconAccepts) return false;
    this.beacons.push({ url, events: JSON.parse(body) as Record<string, unknown>[] });
    return true;
  }

  later(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.clock + ms, fn, id });
    return id;
  }

  cancel(id: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  /** When the next timer is due, relative to now (Infinity: none). */
  nextTimer(): number {
    return Math.min(...this.timers.map((t) => t.at - this.clock));
  }

  /** Move the clock, running due timers in order; waits for the POSTs they start. */
  async advance(ms: number): Promise<void> {
    const end = this.clock + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      this.clock = Math.max(this.clock, t.at);
      t.fn();
      await settle();
    }
    this.clock = end;
    await settle();
  }

  on(target: "w" | "d", type: string, fn: (e: Event & { persisted?: boolean }) => void): void {
    this.listeners.push({ key: `${target}:${type}`, fn });
  }

  fire(target: "w" | "d", type: string, persisted = false): void {
    for (const l of this.listeners) {
      if (l.key === `${target}:${type}`) l.fn({ persisted } as Event & { persisted?: boolean });
    }
  }

  /** A new page in the same tab (or, with `newTab`, another tab) of the same browser. */
  navigate(location: string, newTab = false): FakePage {
    const next = new FakePage();
    next.ls = this.ls;
    if (!newTab) next.ss = this.ss;
    next.clock = this.clock;
    next.location = location;
    next.replies = this.replies;
    return next;
  }

  sent(): Record<string, unknown>[] {
    return [...this.posts, ...this.beacons].filter((r) => !r.json).flatMap((r) => r.events);
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

export const OK: Answer = { status: 200, retryAfter: 0, body: null };
