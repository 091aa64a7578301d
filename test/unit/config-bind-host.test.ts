import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../infra/config.ts';

test('config - the stack binds loopback, or an address of the lab bridge and nothing else', () => {
  assert.equal(loadConfig({ FERRY_BIND_HOST: '127.0.0.9' }).bindHost, '127.0.0.9');
  // No interface of that name here: 10.77.0.1 would be an address that may leave the machine.
  assert.throws(
    () => loadConfig({ FERRY_BIND_HOST: '10.77.0.1', FERRY_LAB_BRIDGE: 'nolab-br0' }),
    (err: Error) =>
      err instanceof ConfigError &&
      /neither loopback nor an address of the lab bridge nolab-br0/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ FERRY_BIND_HOST: 'example.com' }),
    /loopback address .* or the address of a lab bridge/,
  );
  assert.throws(() => loadConfig({ FERRY_LAB_SUBNET: '192.168.1.0/16' }), /private \/24/);
  assert.deepEqual(loadConfig({}).lab, { bridge: 'ferrybr0', subnet: '10.77.0.0/24' });
});
