/** What the SDK needs from the page, behind one interface: the browser's own in `browserEnv`,
 * a scripted one in the unit tests (a clock, storages, a collector that answers on cue). */

export interface Answer {
  status: number;
  /** Seconds from a Retry-After header, 0 when absent. */
  retryAfter: number;
  body: unknown;
}

export interface Env {
  /** localStorage and sessionStorage; undefined when the page may not use them. */
  ls?: Storage;
  ss?: Storage;
  now(): number;
  href(): string;
  /** POST `body` as text/plain (a CORS "simple" request: no preflight, survives unload), or
   * as application/json when `json` (the identify route; the browser sends a preflight). */
  post(url: string, body: string, json?: number): Promise<Answer>;
  /** navigator.sendBeacon: true when the browser took the body for delivery. */
  beacon(url: string, body: string): boolean;
  later(fn: () => void, ms: number): unknown;
  cancel(timer: unknown): void;
  /** Listen on the window ("w") or the document ("d"). */
  on(target: "w" | "d", type: string, fn: (e: Event & { persisted?: boolean }) => void): void;
  hidden(): boolean;
  online(): boolean;
  crypto: Crypto;
  warn(message: string): void;
}

function storage(name: "localStorage" | "sessionStorage"): Storage | undefined {
  try {
    const s = window[name];
    s.setItem("ip:", "1");
    s.removeItem("ip:");
    return s;
  } catch {
    return undefined; // blocked (privacy settings, sandboxed frame): memory only
  }
}

export function browserEnv(): Env {
  return {
    ls: storage("localStorage"),
    ss: storage("sessionStorage"),
    now: () => Date.now(),
    href: () => location.href,
    async post(url, body, json) {
      const r = await fetch(url, {
        method: "POST",
        body,
        headers: json ? { "content-type": "application/json" } : {},
        credentials: "omit",
        keepalive: body.length < 6e4, // the browser's in-flight budget for keepalive is 64 KiB
      });
      let parsed: unknown = null;
      try {
        parsed = await r.json();
      } catch {
        // not JSON: the status says enough
      }
      return { status: r.status, retryAfter: Number(r.headers.get("retry-after")) || 0, body: parsed };
    },
    beacon(url, body) {
      try {
        return navigator.sendBeacon(url, body);
      } catch {
        return false;
      }
    },
    later: (fn, ms) => setTimeout(fn, ms),
    cancel: (t) => clearTimeout(t as number),
    on: (t, type, fn) => (t === "d" ? document : window).addEventListener(type, fn as EventListener),
    hidden: () => document.visibilityState === "hidden",
    online: () => navigator.onLine !== false,
    crypto,
    warn: (m) => console.warn(`[interactions] ${m}`),
  };
}
