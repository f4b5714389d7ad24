/** Random ids and keyed hashing of user ids. Nothing here reads the device: no fingerprint. */

const hex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => (b + 256).toString(16).slice(1)).join("");

/** A random (v4) UUID; `crypto.randomUUID` exists only on https and localhost pages. */
export function uuid(c: Crypto): string {
  if (c.randomUUID) return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** HMAC-SHA256 hex of `userId` under `key` (both UTF-8): schemas/privacy.py `hash_user_id`,
 * so a page and a Python producer holding the same key store the same id. */
export async function hashUserId(userId: string, key: string, c: Crypto): Promise<string> {
  const enc = new TextEncoder();
  const k = await c.subtle.importKey(
    "raw",
    enc.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return hex(new Uint8Array(await c.subtle.sign("HMAC", k, enc.encode(userId))));
}
