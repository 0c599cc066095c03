import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// Golden files: generated text compared with a checked-in file. `UPDATE_GOLDEN=1 npx jest ...`
// rewrites the files instead (review the diff before committing it).

export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

export function expectGoldenFile(file: string, actual: string): void {
  if (UPDATE_GOLDEN) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) throw new Error(`missing golden file ${file}: run UPDATE_GOLDEN=1 npx jest`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
