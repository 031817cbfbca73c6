// User-controlled text on its way into a status field, an Event or a table
// cell: quoted and escaped the way JSON.stringify does, never raw, so a newline
// or a control character cannot start a new line or row.

/** A value JSON-quoted (`"a\nb"`), cut to `max` characters before quoting. */
export function quote(v: string, max = 200): string {
  return JSON.stringify(v.length > max ? `${v.slice(0, max)}...` : v);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Free text with every control character (newline included) written as its JSON escape. */
export function escapeText(s: string): string {
  return s.replace(CONTROL, (c) => JSON.stringify(c).slice(1, -1));
}
