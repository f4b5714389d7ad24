/** The validator: the JSON Schema rules of src/generated/schema.ts, applied to one event.
 *
 * Messages read like the collector's (`position: must be <= 9999, got 10000`), so an event
 * the page refuses says the same as a 422 would. Lengths count code points, as Python does.
 */

export interface Rule {
  type: string;
  null?: boolean;
  min?: number;
  max?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  format?: string;
  const?: unknown;
  maxBytes?: number;
  items?: Rule;
  props?: Record<string, Rule>;
}

export interface Model {
  required: string[];
  fields: Record<string, Rule>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function check(path: string, r: Rule, v: unknown, errors: string[]): void {
  const bad = (rule: string): void => {
    errors.push(`${path}: ${rule}`);
  };
  const t = r.type;
  if (v === null || v === undefined) {
    if (!r.null) bad("must not be null");
  } else if (t === "string") {
    if (typeof v !== "string") return bad("must be a string");
    const n = [...v].length;
    if (r.minLength !== undefined && n < r.minLength)
      bad(`must have at least ${r.minLength} characters`);
    if (r.maxLength !== undefined && n > r.maxLength)
      bad(`must have at most ${r.maxLength} characters, got ${n}`);
    if (r.pattern && !new RegExp(r.pattern, "u").test(v)) bad(`must match ${r.pattern}`);
    if (r.format === "uuid" && !UUID.test(v)) bad("must be a UUID");
    if (r.format === "date-time" && isNaN(Date.parse(v))) bad("must be an RFC 3339 date-time");
  } else if (t === "integer" || t === "number") {
    if (typeof v !== "number" || !isFinite(v) || (t === "integer" && !Number.isInteger(v)))
      return bad(`must be ${t === "integer" ? "an integer" : "a number"}`);
    if (r.min !== undefined && v < r.min) bad(`must be >= ${r.min}, got ${v}`);
    if (r.max !== undefined && v > r.max) bad(`must be <= ${r.max}, got ${v}`);
    if (r.const !== undefined && v !== r.const) bad(`must be ${r.const}`);
  } else if (t === "array") {
    if (!Array.isArray(v)) return bad("must be a list");
    if (r.minItems !== undefined && v.length < r.minItems)
      bad(`must have at least ${r.minItems} items`);
    if (r.maxItems !== undefined && v.length > r.maxItems)
      bad(`must have at most ${r.maxItems} items, got ${v.length}`);
    if (r.items) v.forEach((x, i) => check(`${path}[${i}]`, r.items as Rule, x, errors));
  } else if (t === "object") {
    if (typeof v !== "object" || Array.isArray(v)) return bad("must be an object");
    const size = new TextEncoder().encode(JSON.stringify(v)).length;
    if (r.maxBytes !== undefined && size > r.maxBytes)
      bad(`must be at most ${r.maxBytes} bytes as JSON, got ${size}`);
    const o = v as Record<string, unknown>;
    for (const k in r.props) if (o[k] != null) check(`${path}.${k}`, r.props[k], o[k], errors);
  }
}

/** The event's errors as `field: rule` lines; empty when the collector would accept it. */
export function validate(model: Model, event: Record<string, unknown>): string[] {
  const errors: string[] = [];
  for (const k of model.required) if (event[k] == null) errors.push(`${k}: is required`);
  for (const k in event) {
    const r = model.fields[k];
    if (!r) errors.push(`${k}: is not a known field`);
    else if (event[k] !== undefined) check(k, r, event[k], errors);
  }
  return errors;
}
