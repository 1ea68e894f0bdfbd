import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// diffoscope's own tar and gzip test data (never committed: brought with the fetch tool) through
// bench/diffoscope-data.ts, which checks every member and field diffoscope's expected outputs show.
const data = process.env.KREPRO_DIFFOSCOPE_DATA;
const name = "diffoscope's tar and gzip test pairs: krepro reports every member and field its expected outputs show";
if (!data || !existsSync(data)) {
  console.log(`diff-diffoscope: SKIPPED, no data: set KREPRO_DIFFOSCOPE_DATA to a diffoscope checkout's tests/data${data ? ` (${data} does not exist)` : ''}`);
  test.skip(name, () => {});
} else {
  test(name, () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx/esm', 'bench/diffoscope-data.ts', data], { encoding: 'utf8', timeout: 600_000 });
    assert.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, / 0 checks failed\n$/);
  });
}

test.run();
