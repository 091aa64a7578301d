import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { unreachableService } from '../../errors/report.ts';

const run = promisify(execFile);

function named(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

test('report - a client library that gave up reaching its service is named by the service', () => {
  assert.equal(unreachableService(named('MaxRetriesPerRequestError', 'x')), 'Redis');
  assert.equal(unreachableService(named('KafkaJSConnectionError', 'x')), 'Kafka');
  assert.equal(unreachableService(new TypeError('a bug')), undefined);
  assert.equal(unreachableService('not an error'), undefined);
});

test('report - Redis not answering ends the CLI with one line naming what to check, exit 2', async () => {
  const script = [
    "import { reportAndExit } from './errors/report.ts';",
    "const err = new Error('Reached the max retries per request limit (which is 3).');",
    "err.name = 'MaxRetriesPerRequestError';",
    'reportAndExit(err);',
  ].join('\n');
  const result = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]).then(
    () => assert.fail('reportAndExit must exit non-zero'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 2);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${result.stderr}`);
  assert.match(lines[0] ?? '', /^ferry: Redis did not answer .*ferry stack status.*FERRY_SECURITY/);
});
