/** The tracker: events built and checked in the page, signals captured from navigation, and
 * delivery that survives page exits, offline spells and an overloaded collector.
 *
 * Delivery. Events wait in a bounded per-tab queue in localStorage (src/queue.ts) and go out
 * in batches (`batchSize` events, or `flushMs` after the first). Every POST is a CORS "simple"
 * request (text/plain body, the ingest-only key in `?api_key=`), so no preflight is needed and
 * the same request works as `fetch(keepalive)` and as `navigator.sendBeacon`. A network error,
 * 408, 429 or 5xx keeps the batch and backs off (Retry-After, else 1 s doubling to 60 s, with
 * jitter); the `online` event resumes at once. When the page is hidden or unloaded the queue
 * goes out by beacon; during a backoff it stays saved instead and the next page sends it. Each
 * event carries its own event_id, so a resend is counted once downstream.
 *
 * Signals. A click remembers itself in sessionStorage; when the results page is shown again
 * (bfcache `pageshow`, a history navigation, the tab becoming visible) the dwell is known:
 * `long_view` when it reached `longViewMs`, else `return_to_results` (the quick return that
 * says the result did not answer), with `metadata.duration_ms` either way. A same-site landing
 * page running the SDK sends `long_view` itself once visible for `longViewMs`, so readers who
 * never come back still count. `skipAbove` adds `skip` for results shown above a click.
 */
import type { Env } from "./env";
import { interaction, search } from "./generated/schema";
import { hashUserId, uuid } from "./ids";
import { type Item, type Kind, Queue } from "./queue";
import { validate } from "./rules";

export type Consent = "granted" | "pending" | "denied";
export type Meta = Record<string, unknown>;

export interface Options {
  /** The collector's base URL, e.g. https://events.example.com */
  endpoint: string;
  /** An API key with the `ingest` scope only: it is public once in the page. */
  key?: string;
  /** "pending": nothing stored or sent (events dropped) until `consent("granted")`. */
  consent?: Consent;
  /** Hash user ids in the page: HMAC-SHA256 with this key (= USER_ID_HMAC_KEY). */
  hashKey?: string;
  retrieverId?: string;
  batchSize?: number;
  flushMs?: number;
  /** Dwell that counts as `long_view` (the collector's LONG_VIEW_MS, 4,000 ms by default). */
  longViewMs?: number;
  skipAbove?: boolean;
  maxQueue?: number;
  onInvalid?: (errors: string[], event: Meta) => void;
}

export interface Search {
  query: string;
  /** In the order shown (after any exploration swap). */
  results: string[];
  totalHits?: number;
  queryId?: string;
  metadata?: Meta;
  /** The boost route's `exploration` record, passed through as returned (with its `query_id`
   * as `queryId`); sent as `metadata.exploration` (docs/counterfactual.md). */
  exploration?: Exploration;
}

/** A logged swap: with probability `epsilon` one adjacent pair among the top `depth` results
 * was swapped; `swap` = j when positions j and j + 1 were, null when the list is as ranked. */
export interface Exploration {
  epsilon: number;
  depth: number;
  swap: number | null;
}

export interface Target {
  featureId: string;
  position?: number;
  queryId?: string;
  metadata?: Meta;
}

interface Pending {
  f: string;
  p?: number;
  q?: string;
  t: number;
  u: string;
  lv?: number;
}

const PATHS: Record<Kind, string> = {
  i: "/v1/retrievers/interactions",
  s: "/v1/retrievers/searches",
};
const AID = "ip:aid";
const UID = "ip:uid";
const TAB = "ip:tab";
const CLICK = "ip:clk";
const SEEN = "ip:seen";
const SEARCH_COLLAPSE_MS = 1_800_000;
const CLICK_COLLAPSE_MS = 1_000;
const BEACON_EVENTS = 50;
const BEACON_CHARS = 6e4;

/** 32-bit FNV-1a, base 36: a short key for "this exact view was already sent". */
function digest(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}

export class Client {
  private readonly o: Options & Required<Pick<Options, "batchSize" | "flushMs" | "longViewMs">>;
  private state: Consent = "pending";
  private q?: Queue;
  private aid?: string;
  private uid?: string;
  private tab?: string;
  private timer?: unknown;
  private due = Infinity;
  private until = 0;
  private fails = 0;
  private busy = false;
  private readonly inflight = new Set<string>();
  private readonly shown = new Map<string, string[]>();
  /** Recent views, clicks and results acted on (clicked or skipped), for collapsing repeats;
   * kept in sessionStorage so a reloaded page remembers them. */
  private seen: Record<string, [number, string]> = {};

  constructor(
    options: Options,
    private readonly env: Env,
  ) {
    this.o = { batchSize: 20, flushMs: 1000, longViewMs: 4000, ...options };
    this.o.endpoint = options.endpoint.replace(/\/+$/, "");
    env.on("w", "pagehide", (e) => this.drain(!e.persisted, true));
    env.on("w", "pageshow", (e) => {
      if (e.persisted && this.q) {
        this.q.items = [];
        this.q.load(); // another tab may have adopted the queue while this page slept
        this.returned();
      }
    });
    env.on("w", "popstate", () => this.returned());
    env.on("w", "online", () => {
      this.until = this.fails = 0;
      this.schedule(0);
    });
    env.on("d", "visibilitychange", () =>
      env.hidden() ? this.drain(false, false) : this.returned(),
    );
    this.consent(options.consent ?? "granted");
  }

  // -- consent and identity ----------------------------------------------------------------
  /** "granted" starts storing and sending; "denied" also erases what the SDK stored. */
  consent(state: Consent): void {
    this.state = state;
    if (state === "granted" && !this.q) this.start();
    if (state === "denied") {
      for (const s of [this.env.ls, this.env.ss]) {
        const keys: string[] = [];
        for (let i = 0; s && i < s.length; i++) keys.push(s.key(i) as string);
        for (const k of keys) if (k.startsWith("ip:")) s?.removeItem(k);
      }
      this.q = this.aid = this.uid = undefined;
      this.env.cancel(this.timer);
      this.timer = undefined;
    }
  }

  private start(): void {
    const { ls, ss, crypto } = this.env;
    this.tab = ss?.getItem(TAB) ?? uuid(crypto);
    ss?.setItem(TAB, this.tab);
    this.aid = ls?.getItem(AID) ?? uuid(crypto);
    ls?.setItem(AID, this.aid);
    this.uid = ls?.getItem(UID) ?? undefined;
    try {
      this.seen = JSON.parse(ss?.getItem(SEEN) ?? "{}") as typeof this.seen;
    } catch {
      this.seen = {};
    }
    this.q = new Queue(this.env, this.tab, this.o.maxQueue ?? 500);
    this.q.load();
    this.returned();
    this.landed();
    if (this.q.items.length) this.schedule(0);
  }

  /** Link this browser's anonymous id to `userId` (the collector's identify route), and send
   * `userId` (hashed when `hashKey` is set) with every later event. */
  async identify(userId: string): Promise<boolean> {
    if (!this.q) return false;
    const id = this.o.hashKey ? await hashUserId(userId, this.o.hashKey, this.env.crypto) : userId;
    const linked = this.env.ls?.getItem(UID) === id;
    this.uid = id;
    if (linked) return true;
    try {
      const url = `${this.o.endpoint}/v1/retrievers/users/${encodeURIComponent(id)}/identify`;
      const a = await this.env.post(this.url(url), JSON.stringify({ anonymous_id: this.aid }), 1);
      if (a.status < 300) this.env.ls?.setItem(UID, id); // else the next page's identify retries
      return a.status < 300;
    } catch {
      return false;
    }
  }

  /** Logged out: forget the user id and start a new anonymous id. */
  reset(): void {
    this.uid = undefined;
    this.env.ls?.removeItem(UID);
    if (this.q) this.env.ls?.setItem(AID, (this.aid = uuid(this.env.crypto)));
  }

  // -- events ------------------------------------------------------------------------------
  /** A result list shown for a query; returns its query_id (pass it to clicked). The same
   * view sent twice (several widgets, a reload from history) is sent once. */
  searched(s: Search): string | undefined {
    const body: Meta = {
      query_id: s.queryId,
      query: s.query,
      results: s.results,
      total_hits: s.totalHits ?? s.results?.length,
      metadata: s.exploration ? { ...s.metadata, exploration: s.exploration } : s.metadata,
    };
    const key = digest(JSON.stringify(body));
    const hit = this.dup(key, SEARCH_COLLAPSE_MS);
    if (hit) {
      this.shown.set(hit, s.results); // a reloaded page: clicks on it still know the list
      return hit;
    }
    const queryId = (body.query_id ??= uuid(this.env.crypto)) as string;
    // Not expressible in the JSON Schema: schemas/events.py SearchEvent._hits_cover_results.
    const extra = [
      ...((body.total_hits as number) < s.results?.length
        ? [`total_hits: must be >= number of results (${s.results.length}), got ${body.total_hits}`]
        : []),
      ...(s.exploration ? explorationErrors(s.exploration) : []),
    ];
    if (!this.add("s", body, extra)) return undefined;
    this.mark(key, queryId);
    this.shown.set(queryId, s.results);
    return queryId;
  }

  /** A click on a result: sent now; dwell and return are captured when the visitor comes back. */
  clicked(t: Target): string | undefined {
    const id = this.track("click", t);
    if (!id) return undefined;
    const { featureId: f, position: p, queryId: q } = t;
    const results = q ? this.shown.get(q) : undefined;
    if (this.o.skipAbove && results && p !== undefined) {
      for (let i = 0; i < Math.min(p, results.length); i++) {
        const acted = `a${q} ${results[i]}`;
        if (!this.dup(acted, SEARCH_COLLAPSE_MS) && results[i] !== f)
          this.track("skip", { featureId: results[i], position: i, queryId: q });
        this.mark(acted, "1");
      }
    }
    this.mark(`a${q} ${f}`, "1");
    const pending: Pending = { f, p, q, t: this.env.now(), u: this.env.href() };
    this.env.ss?.setItem(CLICK, JSON.stringify(pending));
    return id;
  }

  converted(t: Target & { type?: "purchase" | "add_to_cart" }): string | undefined {
    return this.track(t.type ?? "purchase", t);
  }

  feedback(t: Target & { positive: boolean }): string | undefined {
    return this.track(t.positive ? "positive_feedback" : "negative_feedback", t);
  }

  /** Any type, custom ones included (`share`: a lower-case identifier). */
  track(types: string | string[], t: Target): string | undefined {
    const body: Meta = {
      feature_id: t.featureId,
      interaction_type: typeof types === "string" ? [types] : types,
      position: t.position,
      query_id: t.queryId,
      metadata: t.metadata,
    };
    const key = digest(JSON.stringify(body));
    if (this.dup(key, CLICK_COLLAPSE_MS)) return undefined; // a double-fired handler
    const id = this.add("i", body, []);
    if (id) this.mark(key, id);
    return id;
  }

  private dup(key: string, ms: number): string | undefined {
    const hit = this.seen[key];
    return hit && this.env.now() - hit[0] < ms ? hit[1] : undefined;
  }

  private mark(key: string, id: string): void {
    const now = this.env.now();
    this.seen[key] = [now, id];
    for (const k in this.seen) if (now - this.seen[k][0] > SEARCH_COLLAPSE_MS) delete this.seen[k];
    this.env.ss?.setItem(SEEN, JSON.stringify(this.seen));
  }

  private add(k: Kind, body: Meta, extra: string[]): string | undefined {
    if (this.state !== "granted" || !this.q) return undefined;
    const e: Meta = {
      event_id: uuid(this.env.crypto),
      timestamp: new Date(this.env.now()).toISOString(),
      session_id: this.tab,
      anonymous_id: this.aid,
      user_id: this.uid,
      retriever_id: this.o.retrieverId,
      ...body,
    };
    for (const f in e) if (e[f] === undefined) delete e[f];
    const errors = [...validate(k === "i" ? interaction : search, e), ...extra];
    if (errors.length) {
      this.env.warn(`event not sent: ${errors.join("; ")}`);
      this.o.onInvalid?.(errors, e);
      return undefined;
    }
    this.q.push({ k, e: e as Item["e"] });
    this.schedule(this.q.items.length >= this.o.batchSize ? 0 : this.o.flushMs);
    return e.event_id as string;
  }

  // -- signals -----------------------------------------------------------------------------
  private pending(): Pending | undefined {
    try {
      return (JSON.parse(this.env.ss?.getItem(CLICK) ?? "null") as Pending) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** On the results page again after a click: the dwell is now known. */
  private returned(): void {
    const p = this.pending();
    if (!p || p.u !== this.env.href() || this.env.hidden() || !this.q) return;
    this.env.ss?.removeItem(CLICK);
    if (p.lv) return; // the landing page already sent long_view
    const dwell = this.env.now() - p.t;
    this.track(dwell >= this.o.longViewMs ? "long_view" : "return_to_results", {
      featureId: p.f,
      position: p.p,
      queryId: p.q,
      metadata: { duration_ms: dwell },
    });
  }

  /** On the clicked result's page (same site, same tab): long_view once read long enough. */
  private landed(): void {
    const p = this.pending();
    if (!p || p.u === this.env.href() || p.lv) return;
    this.env.later(
      () => {
        const now = this.pending();
        if (now?.t !== p.t || now.lv || this.env.hidden()) return;
        now.lv = 1;
        this.env.ss?.setItem(CLICK, JSON.stringify(now));
        this.track("long_view", {
          featureId: p.f,
          position: p.p,
          queryId: p.q,
          metadata: { duration_ms: this.env.now() - p.t },
        });
      },
      Math.max(0, p.t + this.o.longViewMs - this.env.now()),
    );
  }

  // -- delivery ----------------------------------------------------------------------------
  private url(path: string): string {
    const key = this.o.key;
    return key ? `${path}?api_key=${encodeURIComponent(key)}` : path;
  }

  private schedule(ms: number): void {
    const now = this.env.now();
    const at = Math.max(now + ms, this.until);
    if (this.timer !== undefined) {
      if (this.due <= at) return;
      this.env.cancel(this.timer);
    }
    this.due = at;
    this.timer = this.env.later(() => void this.flush(), at - now);
  }

  /** Send the oldest batch now (one request at a time); resolves when it was answered. */
  async flush(): Promise<void> {
    this.timer = undefined;
    this.due = Infinity;
    const q = this.q;
    const first = q?.items[0];
    if (!q || !first || this.busy || this.state !== "granted" || !this.env.online()) return;
    const batch = q.items.filter((x) => x.k === first.k).slice(0, this.o.batchSize);
    const ids = batch.map((x) => x.e.event_id);
    ids.forEach((id) => this.inflight.add(id));
    this.busy = true;
    let retry = 0;
    let failed = true;
    try {
      const body = JSON.stringify(batch.map((x) => x.e));
      const a = await this.env.post(this.url(this.o.endpoint + PATHS[first.k]), body);
      const s = a.status;
      retry = a.retryAfter * 1000;
      if (s !== 408 && s !== 429 && s < 500) {
        // 200; 207/4xx: the refused events are dropped unless the collector says retry
        const keep = new Set<string>();
        const failures = (a.body as { failures?: { index: number; retryable: boolean }[] })
          ?.failures;
        if (s > 200) {
          this.env.warn(`collector answered ${s}: ${JSON.stringify(a.body)}`);
          for (const f of failures ?? []) if (f.retryable && ids[f.index]) keep.add(ids[f.index]);
        }
        q.remove(new Set(ids.filter((id) => !keep.has(id))));
        failed = keep.size > 0;
      }
    } catch {
      // offline, the collector down, or CORS refused: keep the batch
    }
    this.busy = false;
    this.inflight.clear();
    if (failed) {
      this.fails++;
      const ms = retry || Math.min(6e4, 1e3 * 2 ** (this.fails - 1)) * (0.5 + Math.random() / 2);
      this.until = this.env.now() + ms;
      this.schedule(ms);
    } else {
      this.until = this.fails = 0;
      if (q.items.length) this.schedule(q.items.length < this.o.batchSize ? this.o.flushMs : 0);
    }
  }

  /** The page is hidden or going away: beacon what is queued, unless backing off. On
   * `pagehide` a batch already in flight is the browser's too (keepalive outlives the page):
   * kept, the next page would send it again. */
  private drain(closing: boolean, leaving: boolean): void {
    const q = this.q;
    if (!q) return;
    if (!this.fails && this.env.online()) {
      if (leaving) q.remove(this.inflight);
      for (const k of ["s", "i"] as Kind[]) {
        let chunk: Item[] = [];
        let chars = 0;
        const go = (): boolean => {
          const ok = this.env.beacon(
            this.url(this.o.endpoint + PATHS[k]),
            JSON.stringify(chunk.map((x) => x.e)),
          );
          if (ok) q.remove(new Set(chunk.map((x) => x.e.event_id)));
          chunk = [];
          chars = 0;
          return ok;
        };
        for (const x of q.items.filter((y) => y.k === k && !this.inflight.has(y.e.event_id))) {
          const size = JSON.stringify(x.e).length;
          if (chunk.length && (chunk.length >= BEACON_EVENTS || chars + size > BEACON_CHARS))
            if (!go()) break;
          chunk.push(x);
          chars += size;
        }
        if (chunk.length) go();
      }
    }
    q.save(closing && q.items.length > 0);
  }
}

/** The rules of schemas/exploration.py's record (not expressible in the JSON Schema, whose
 * metadata is free-form): a record the estimators could not read is refused in the page. */
function explorationErrors(x: Exploration): string[] {
  const at = "metadata.exploration";
  const errors: string[] = [];
  if (typeof x.epsilon !== "number" || !(x.epsilon >= 0 && x.epsilon <= 1))
    errors.push(`${at}.epsilon: must be between 0 and 1, got ${x.epsilon}`);
  if (!Number.isInteger(x.depth) || x.depth < 2 || x.depth > 1000)
    errors.push(`${at}.depth: must be an integer between 2 and 1000, got ${x.depth}`);
  else {
    const swap = x.swap ?? null;
    if (swap !== null && (!Number.isInteger(swap) || swap < 0 || swap > x.depth - 2))
      errors.push(`${at}.swap: must be null or an integer from 0 to depth - 2 (${x.depth - 2}), got ${swap}`);
  }
  for (const f of Object.keys(x))
    if (!["epsilon", "depth", "swap"].includes(f)) errors.push(`${at}.${f}: is not a known field`);
  return errors;
}
