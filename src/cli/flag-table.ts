// README's table of config keys (`nin train`'s flags), written from the key table (config/keys.ts) so the two
// cannot disagree: test/cli/flag-table.test.ts compares README's copy with this; scripts/config-table.js prints it.
import { CONFIG_KEY_NAMES, type KeyRow, keyRow } from '../config/keys';
import { describeRange } from '../sys/field-check';

/** What a row allows, in README's words. */
function allowed(row: KeyRow): string {
  const range = (() => {
    switch (row.kind) {
      case 'integer':
        return describeRange('integer', row.min, row.max);
      case 'real':
        return describeRange('real', row.min, row.max, row.minExclusive);
      case 'choice':
        return row.choices.map((c) => `\`${c}\``).join(', ');
      case 'boolean':
        return 'on or off';
      case 'path':
        return 'a path';
    }
  })();
  return row.nullable && row.kind !== 'path' ? `${range}, or not given` : range;
}

/** The default as README shows it: the value, or what not giving the flag means. */
function shownDefault(row: KeyRow): string {
  if (row.default === null) return row.unset ?? 'not given';
  return row.kind === 'boolean' ? (row.default ? 'on' : 'off') : `\`${String(row.default)}\``;
}

const escape = (text: string) => text.replace(/\|/g, '\\|');

/** The Markdown table: one line per config key, in config.json's order. */
export function flagTable(): string {
  const lines = ['| flag | config key | default | allowed | part | what |', '|---|---|---|---|---|---|'];
  for (const key of CONFIG_KEY_NAMES) {
    const row = keyRow(key);
    const flag = row.kind === 'boolean' ? `\`${row.flag}\`, \`--no-${row.flag.slice(2)}\`` : `\`${row.flag} ${row.arg}\``;
    const part = row.part === 'recipe' ? (row.resume === 'may-change' ? 'recipe (--resume may change it)' : 'recipe') : 'runtime';
    lines.push(`| ${flag} | \`${key}\` | ${shownDefault(row)} | ${allowed(row)} | ${part} | ${escape(row.help)} |`);
  }
  return lines.join('\n');
}
