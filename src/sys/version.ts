// nin's version, read once from package.json (three levels up from dist/src/sys/).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const NIN_VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;
